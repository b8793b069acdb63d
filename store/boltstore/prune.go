package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// pruneChunk is the most events one pruning transaction deletes, so that a
// large prune never holds the write lock for long: appends commit between
// its transactions.
const pruneChunk = 10000

// Prune deletes every event whose timestamp is strictly before the given
// time, with its index entries, and returns how many it deleted. It works
// oldest first in transactions of at most 10,000 events each, checking ctx
// between them; on error it returns how many it had deleted, and the events
// it had not reached are intact.
//
// The events of a tile of 16 sequences whose leaves cannot be computed
// again, because one of its events was changed or removed outside the
// store, are kept until this prune deletes every one of them still stored
// (FORMAT.md, "log"): Prune deletes the others, and then returns how many
// it deleted and an error wrapping [ErrCorrupt] that names the tiles it
// left. So one damaged tile never stops retention.
//
// The pages freed are reused by later appends; the file itself does not
// shrink (see the package documentation).
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	bound := timeBound(auditevents.CeilMicro(before).UnixMicro())
	total := 0
	var from []byte // the key after which the next chunk starts
	var damaged []damagedTile
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		c, err := s.pruneChunk(bound, from)
		total += c.deleted
		for _, d := range c.damaged {
			if !slices.ContainsFunc(damaged, func(o damagedTile) bool { return o.tileRef == d.tileRef }) {
				damaged = append(damaged, d) // a tile may span two chunks
			}
		}
		if err != nil {
			return total, err
		}
		if c.read < pruneChunk {
			break
		}
		from = c.last
	}
	if len(damaged) > 0 {
		return total, leftError(damaged)
	}
	return total, nil
}

// leftError returns the error of a prune that left the events of damaged
// tiles.
func leftError(damaged []damagedTile) error {
	var b strings.Builder
	for i, d := range damaged {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "sequences %d to %d of account %s (%v)", d.tile*tileWidth, d.tile*tileWidth+tileWidth-1, quoteAccount(d.account), d.err)
	}
	return fmt.Errorf("boltstore: pruning: %w: the events of %d tiles whose leaves cannot be computed again are left unpruned until every event of theirs is: %s", ErrCorrupt, len(damaged), b.String())
}

// chunkResult is what pruneChunk did.
type chunkResult struct {
	read, deleted int           // events read below the bound, and deleted
	last          []byte        // the key of the last event read
	damaged       []damagedTile // tiles whose events were left (pruneLog)
}

// pruneChunk deletes up to pruneChunk of the oldest events with keys below
// bound and after from (all of them when from is nil), in one transaction,
// but for the events of damaged tiles (pruneLog).
func (s *Store) pruneChunk(bound, from []byte) (chunkResult, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return chunkResult{}, auditevents.ErrClosed
	}
	var res chunkResult
	err := guard(func() error {
		return s.update(func(tx *bolt.Tx) error {
			res = chunkResult{}
			events := tx.Bucket(bucketEvents)
			var pruned []prunedEvent // the events read, in their accounts' logs
			var tags [][numIndexes][]byte
			sealed, err := sealedTime(tx)
			if err != nil {
				return err
			}
			c := events.Cursor()
			k, v := c.First()
			if from != nil {
				if k, v = c.Seek(from); bytes.Equal(k, from) {
					k, v = c.Next()
				}
			}
			for ; k != nil && bytes.Compare(k, bound) < 0 && len(pruned) < pruneChunk; k, v = c.Next() {
				e, seq, _, err := s.codec.decodeEntry(k, v)
				if err != nil {
					return err
				}
				k = bytes.Clone(k)
				pruned = append(pruned, prunedEvent{account: e.Account, seq: seq, key: k})
				var keys [numIndexes][]byte
				et := s.codec.eventTags(&e)
				for kind := range numIndexes {
					if tag, ok := indexed(kind, &e, et); ok {
						keys[kind] = keyIn(tx.Bucket(indexBuckets[kind]), kind, tag, k, sealed)
					}
				}
				tags = append(tags, keys)
			}
			res.read = len(pruned)
			if len(pruned) > 0 {
				res.last = pruned[len(pruned)-1].key
			}
			if !s.noLog { // Options.NoLog: no log to mark the pruned in
				if res.damaged, err = s.pruneLog(tx, pruned); err != nil {
					return err
				}
			}
			ids := tx.Bucket(bucketIDs)
			var index [numIndexes][][]byte
			var keys [][]byte
			for i, p := range pruned {
				if slices.ContainsFunc(res.damaged, func(d damagedTile) bool {
					return d.account == p.account && d.tile == p.seq/tileWidth
				}) {
					continue // left with its tile
				}
				keys = append(keys, p.key)
				if err := ids.Delete(p.key[8:]); err != nil {
					return err
				}
				for kind := range numIndexes {
					if tags[i][kind] != nil {
						index[kind] = append(index[kind], tags[i][kind])
					}
				}
			}
			for kind := range numIndexes {
				if len(index[kind]) == 0 {
					continue // and a file of format 2 (Options.NoLog) lacks the actor indexes
				}
				slices.SortFunc(index[kind], bytes.Compare)
				if kind < byRequestID && index[kind][0][0] == classHot {
					// Hot entries go (hot keys sort first): the copy in
					// memory no longer holds what the file does. Discarded
					// before the commit, so that no reader pairs the two.
					s.hot.discard()
				}
				for _, k := range index[kind] {
					// A writable Store's file has format 8's layout.
					if _, ok := indexEntry(tx, hotByEvent, kind, k); !ok {
						return corruptf("event %x is missing from index %q", k, indexBuckets[kind])
					}
					if k[0] == classHot {
						continue // the event's hot entry goes below, once
					}
					if err := tx.Bucket(indexBuckets[kind]).Delete(k); err != nil {
						return err
					}
				}
			}
			// Every event is in the user index: its key there tells
			// whether the event has a hot entry, which holds all its
			// indexes'.
			for _, k := range index[byUser] {
				if k[0] != classHot {
					continue
				}
				if _, ek := parseIndexKey(k); ek != nil {
					if err := tx.Bucket(bucketHot).Delete(ek); err != nil {
						return err
					}
				}
			}
			for _, k := range keys {
				if err := events.Delete(k); err != nil {
					return err
				}
			}
			res.deleted = len(keys)
			return addEvents(tx, -len(keys))
		})
	})
	if err != nil {
		return chunkResult{}, fmt.Errorf("boltstore: pruning: %w", err)
	}
	s.hotStale.Store(true) // some hot entries may be gone
	return res, nil
}

// retain runs background retention until Close.
func (s *Store) retain(keep, every time.Duration) {
	defer s.bg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-s.stop
		cancel()
	}()
	for {
		n, err := s.Prune(ctx, s.now().Add(-keep))
		if err != nil && !s.closing() { // a prune that Close cut short is no failure
			s.logger.Error("boltstore: background retention failed", "path", s.db.Path(), "deleted", n, "err", err)
		}
		if s.afterRun != nil {
			s.afterRun(n, err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}
