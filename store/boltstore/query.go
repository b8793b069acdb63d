package boltstore

import (
	"bytes"
	"context"
	"iter"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/oklog/ulid/v2"
)

// A query reads in chunks: each chunk is one read transaction that collects
// at most chunkEvents matching events and looks at most at chunkScanned
// candidates. Between chunks no transaction is open, so the loop body may
// call Append, and a long export never keeps bbolt from remapping the file
// or reusing freed pages.
const (
	chunkEvents  = 512
	chunkScanned = 8192
)

// probeEntries is how many entries of each candidate path the planner reads
// to estimate its size.
const probeEntries = 32

// indexCostFactor is how much more a candidate found through a secondary
// index costs than one read from the events bucket in key order: an index
// entry costs a lookup in the events bucket.
const indexCostFactor = 3

// path is where a query reads its candidates from: the events bucket, or
// one sub-bucket of a secondary index.
type path struct {
	kind indexKind // primary for the events bucket
	name []byte    // the sub-bucket's name
}

// bounds holds a query's key range: candidates have keys in [lo, hi).
type bounds struct{ lo, hi []byte }

func queryBounds(q *auditevents.Query) bounds {
	var b bounds
	if !q.Since.IsZero() {
		b.lo = timeBound(floorMicro(q.Since))
	}
	if !q.Before.IsZero() {
		b.hi = timeBound(ceilMicro(q.Before))
	}
	if !q.After.IsZero() {
		var k []byte
		if us := q.After.Timestamp.UnixMicro(); q.After.Timestamp.Equal(time.UnixMicro(us)) {
			k = timeBound(us)
			id, _ := ulid.ParseStrict(q.After.ID) // Validate checked it
			copy(k[8:], id[:])
		} else {
			k = timeBound(ceilMicro(q.After.Timestamp))
		}
		if b.hi == nil || bytes.Compare(k, b.hi) < 0 {
			b.hi = k
		}
	}
	return b
}

// Query streams the events that match q, newest first, as
// [auditevents.Store] describes.
//
// It reads from the most selective of the paths q allows: the events bucket
// (in time order, so a date range is a seek), or the index of q's user, of
// its configuration's name, or of its account, comparing their sizes within
// q's date range first. Other filters are checked on each candidate, and a
// cursor is a seek. Events appended while a query runs are seen by it if
// they fall after its current position.
func (s *Store) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		if err := q.Validate(); err != nil {
			yield(auditevents.AuditEvent{}, err)
			return
		}
		b := queryBounds(&q)
		if b.lo != nil && b.hi != nil && bytes.Compare(b.lo, b.hi) >= 0 {
			return // empty range
		}
		var (
			p       path
			planned bool
			buf     []auditevents.AuditEvent
			resume  = b.hi // exclusive upper bound of the next chunk; nil: the end
			sent    int
			stop    = func() {}
		)
		defer func() { stop() }()
		for {
			if err := ctx.Err(); err != nil {
				yield(auditevents.AuditEvent{}, err)
				return
			}
			want := chunkEvents
			if q.Limit > 0 {
				want = min(want, q.Limit-sent)
			}
			var done bool
			err := s.view(func(tx *bolt.Tx) error {
				if !planned {
					var est int
					p, est = s.plan(tx, &q, b)
					planned = true
					stop = s.readAhead(tx, p, est, &q)
				}
				var err error
				buf, resume, done, err = s.scan(tx, p, &q, b.lo, resume, buf[:0], want)
				return err
			})
			if err != nil {
				yield(auditevents.AuditEvent{}, err)
				return
			}
			for _, e := range buf {
				if !yield(e, nil) {
					return
				}
				sent++
			}
			if done || (q.Limit > 0 && sent >= q.Limit) {
				return
			}
		}
	}
}

// cursorFor returns a cursor on path p, or nil when p's sub-bucket does not
// exist (no event has that value).
func cursorFor(tx *bolt.Tx, p path) *bolt.Cursor {
	if p.kind == primary {
		return tx.Bucket(bucketEvents).Cursor()
	}
	sub := tx.Bucket(indexBuckets[p.kind]).Bucket(p.name)
	if sub == nil {
		return nil
	}
	return sub.Cursor()
}

// last positions c on the greatest key below hi (or the last key when hi
// is nil) and returns it.
func last(c *bolt.Cursor, hi []byte) (k, v []byte) {
	if hi == nil {
		return c.Last()
	}
	k, v = c.Seek(hi)
	if k == nil {
		return c.Last()
	}
	return c.Prev() // Seek found the first key >= hi
}

// plan returns the path with the fewest expected candidates for q, and how
// many candidates it expects there.
func (s *Store) plan(tx *bolt.Tx, q *auditevents.Query, b bounds) (path, int) {
	paths := []path{{kind: primary}}
	if q.User != "" {
		paths = append(paths, path{byUser, indexName(q.User)})
	}
	if q.Configuration != "" {
		name, _ := auditevents.SplitConfiguration(q.Configuration)
		paths = append(paths, path{byConfiguration, indexName(name)})
	}
	if q.Account != nil {
		paths = append(paths, path{byAccount, indexName(*q.Account)})
	}
	// The oldest time the range reaches: Since, or the oldest event.
	var floor int64
	if b.lo != nil {
		floor = keyTime(b.lo)
	} else if k, _ := tx.Bucket(bucketEvents).Cursor().First(); k != nil {
		floor = keyTime(k)
	}
	best, bestEst, bestCost := paths[0], 0, -1
	for _, p := range paths {
		est := estimate(cursorFor(tx, p), b.lo, b.hi, floor)
		cost := est
		if p.kind != primary {
			cost *= indexCostFactor
		}
		if bestCost < 0 || cost < bestCost {
			best, bestEst, bestCost = p, est, cost
		}
	}
	return best, bestEst
}

// estimate returns about how many keys of c lie in [lo, hi). It reads at
// most probeEntries keys: when the range holds more, it extrapolates from
// the time those keys span to the time from the first of them back to floor.
func estimate(c *bolt.Cursor, lo, hi []byte, floor int64) int {
	if c == nil {
		return 0
	}
	k, _ := last(c, hi)
	if k == nil || (lo != nil && bytes.Compare(k, lo) < 0) {
		return 0
	}
	newest := keyTime(k)
	oldest := newest
	n := 0
	for ; k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, _ = c.Prev() {
		if n == probeEntries {
			span := max(newest-oldest, 1)
			total := max(newest-floor, span)
			est := float64(n) * float64(total) / float64(span)
			return int(min(est, 1<<40))
		}
		oldest = keyTime(k)
		n++
	}
	return n
}

// scan collects into buf, newest first, up to want events of path p that
// match q and have keys in [lo, hi). It returns the key to resume below,
// and whether the range is exhausted.
func (s *Store) scan(tx *bolt.Tx, p path, q *auditevents.Query, lo, hi []byte, buf []auditevents.AuditEvent, want int) (_ []auditevents.AuditEvent, resume []byte, done bool, err error) {
	c := cursorFor(tx, p)
	if c == nil {
		return buf, nil, true, nil
	}
	var events *bolt.Bucket
	if p.kind != primary {
		events = tx.Bucket(bucketEvents)
	}
	k, v := last(c, hi)
	for scanned := 0; k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, v = c.Prev() {
		if scanned == chunkScanned || len(buf) == want {
			return buf, append(bytes.Clone(k), 0), false, nil // just above k: k is next
		}
		scanned++
		if len(k) != keyLen {
			return buf, nil, true, corruptf("key %x has %d bytes, want %d", k, len(k), keyLen)
		}
		if events != nil {
			if v = events.Get(k); v == nil {
				return buf, nil, true, corruptf("index entry %x has no event", k)
			}
		}
		e, err := s.codec.decode(k, v)
		if err != nil {
			return buf, nil, true, err
		}
		if q.Matches(&e) {
			buf = append(buf, e)
		}
	}
	return buf, nil, true, nil
}
