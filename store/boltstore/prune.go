package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
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
// The pages freed are reused by later appends; the file itself does not
// shrink (see the package documentation).
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if s.readOnly {
		return 0, ErrReadOnly
	}
	bound := timeBound(auditevents.CeilMicro(before).UnixMicro())
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		n, err := s.pruneChunk(bound)
		total += n
		if err != nil {
			return total, err
		}
		if n < pruneChunk {
			return total, nil
		}
	}
}

// pruneChunk deletes up to pruneChunk of the oldest events with keys below
// bound, in one transaction.
func (s *Store) pruneChunk(bound []byte) (int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, auditevents.ErrClosed
	}
	n := 0
	err := guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			n = 0
			events := tx.Bucket(bucketEvents)
			var keys [][]byte
			var pruned []prunedEvent // the events of keys, in their accounts' logs
			var index [numIndexes][][]byte
			sealed, err := sealedTime(tx)
			if err != nil {
				return err
			}
			c := events.Cursor()
			for k, v := c.First(); k != nil && bytes.Compare(k, bound) < 0 && len(keys) < pruneChunk; k, v = c.Next() {
				e, seq, _, err := s.codec.decodeEntry(k, v)
				if err != nil {
					return err
				}
				k = bytes.Clone(k)
				keys = append(keys, k)
				pruned = append(pruned, prunedEvent{account: e.Account, seq: seq})
				tags := s.codec.eventTags(&e)
				for kind := range numIndexes {
					if tag, ok := indexed(kind, &e, tags); ok {
						index[kind] = append(index[kind], keyIn(tx.Bucket(indexBuckets[kind]), kind, tag, k, sealed))
					}
				}
			}
			ids := tx.Bucket(bucketIDs)
			if !s.noLog { // Options.NoLog: no log to mark the pruned in
				if err := s.pruneLog(tx, pruned); err != nil {
					return err
				}
			}
			for _, k := range keys {
				if err := ids.Delete(k[8:]); err != nil {
					return err
				}
			}
			for kind := range numIndexes {
				if len(index[kind]) == 0 {
					continue // and a file of format 2 (Options.NoLog) lacks the actor indexes
				}
				b := tx.Bucket(indexBuckets[kind])
				slices.SortFunc(index[kind], bytes.Compare)
				for _, k := range index[kind] {
					if b.Get(k) == nil {
						return corruptf("event %x is missing from index %q", k, indexBuckets[kind])
					}
					if err := b.Delete(k); err != nil {
						return err
					}
				}
			}
			for _, k := range keys {
				if err := events.Delete(k); err != nil {
					return err
				}
			}
			n = len(keys)
			return addEvents(tx, -n)
		})
	})
	if err != nil {
		return 0, fmt.Errorf("boltstore: pruning: %w", err)
	}
	s.hotStale.Store(true) // some hot entries may be gone
	return n, nil
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
