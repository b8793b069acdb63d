package boltstore

import (
	"bytes"
	"context"
	"iter"

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
// one value's entries in a secondary index.
type path struct {
	kind indexKind // primary for the events bucket
	tag  []byte    // the value's tag in the index
	// filter holds, for each other index with a filter in the query, the
	// tag of the value the query wants, which index entries must carry.
	filter [numIndexes][]byte
}

// bounds holds a query's key range: candidates have keys in [lo, hi).
type bounds struct{ lo, hi []byte }

func queryBounds(q *auditevents.Query) bounds {
	var b bounds
	since, before, after := q.MicroRange()
	if !since.IsZero() {
		b.lo = timeBound(since.UnixMicro())
	}
	if !before.IsZero() {
		b.hi = timeBound(before.UnixMicro())
	}
	if !after.IsZero() {
		k := timeBound(after.Timestamp.UnixMicro())
		if after.ID != "" {
			id, _ := ulid.ParseStrict(after.ID) // Validate checked it
			copy(k[8:], id[:])
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
	return auditevents.QueryChunks(ctx, q, chunkEvents, func(q *auditevents.Query) (auditevents.ChunkFunc, func()) {
		b := queryBounds(q)
		var (
			p       path
			planned bool
			resume  = b.hi // exclusive upper bound of the next chunk; nil: the end
			stop    = func() {}
		)
		empty := b.lo != nil && b.hi != nil && bytes.Compare(b.lo, b.hi) >= 0
		next := func(buf []auditevents.AuditEvent, want int) ([]auditevents.AuditEvent, bool, error) {
			if empty {
				return buf, true, s.view(func(*bolt.Tx) error { return nil }) // ErrClosed when closed
			}
			var done bool
			err := s.view(func(tx *bolt.Tx) error {
				if !planned {
					var est int
					var err error
					if p, est, err = s.plan(tx, q, b); err != nil {
						return err
					}
					planned = true
					stop = s.readAhead(tx, p, est, q)
				}
				var err error
				buf, resume, done, err = s.scan(tx, p, q, b.lo, resume, buf, want)
				return err
			})
			return buf, done, err
		}
		return next, func() { stop() }
	})
}

// source reads the event keys of a path newest first. On an index, it
// reads the hot days one by one, newest first, then the sealed range.
type source struct {
	c      *bolt.Cursor
	events *bolt.Bucket
	p      path
	sealed int64  // the last sealed day
	day    int64  // the hot day being read
	minDay int64  // the oldest day to read
	prefix []byte // of the keys being read: a hot day's, or the sealed range's
	empty  bool
}

// newSource returns a source for path p whose keys are not below lo.
func newSource(tx *bolt.Tx, p path, lo []byte) (*source, error) {
	src := &source{events: tx.Bucket(bucketEvents), p: p}
	if p.kind == primary {
		src.c = src.events.Cursor()
		return src, nil
	}
	src.c = tx.Bucket(indexBuckets[p.kind]).Cursor()
	var err error
	if src.sealed, err = sealedDay(tx); err != nil {
		return nil, err
	}
	oldest, _ := src.events.Cursor().First()
	if oldest == nil {
		src.empty = true
		return src, nil
	}
	src.minDay = dayOf(keyTime(oldest)) // not the far past of a bound
	if lo != nil {
		src.minDay = max(src.minDay, dayOf(keyTime(lo)))
	}
	return src, nil
}

var ones = bytes.Repeat([]byte{0xFF}, keyLen)

// last returns the greatest event key below hi (nil: no bound) and the
// event's value, or nil at the end of the path.
func (s *source) last(hi []byte) (k, v []byte, err error) {
	if s.p.kind == primary {
		k, v = last(s.c, hi)
		return k, v, nil
	}
	if s.empty {
		return nil, nil, nil
	}
	newest, _ := s.events.Cursor().Last()
	if hi == nil || bytes.Compare(hi, newest) > 0 {
		hi = nil // not the far future of a bound
	}
	var d int64
	if hi == nil {
		d = dayOf(keyTime(newest))
	} else {
		d = dayOf(keyTime(hi))
	}
	var bound []byte
	switch {
	case d <= s.sealed && hi == nil:
		s.prefix = sealedPrefix(s.p.tag)
		bound = append(bytes.Clone(s.prefix), ones...)
	case d <= s.sealed:
		s.prefix = sealedPrefix(s.p.tag)
		bound = append(append(bytes.Clone(s.prefix), hi[:keyLen]...), hi[keyLen:]...)
	case hi == nil:
		s.day, s.prefix = d, dayPrefix(d, s.p.tag)
		bound = append(bytes.Clone(s.prefix), ones[:offBytes]...)
	default:
		s.day, s.prefix = d, dayPrefix(d, s.p.tag)
		bound = append(indexKey(s.p.tag, hi[:keyLen], s.sealed), hi[keyLen:]...)
	}
	k, iv := last(s.c, bound)
	return s.settle(k, iv)
}

// prev returns the next older event key and value, or nil at the end.
func (s *source) prev() (k, v []byte, err error) {
	k, v = s.c.Prev()
	if s.p.kind == primary {
		return k, v, nil
	}
	return s.settle(k, v)
}

// settle turns the index entry (k, iv), where the cursor stands, into an
// event key and value. While k is not of the path's value and the day being
// read, it moves on: to older hot days, then to the sealed range. For an
// entry whose tags show that the event fails the query's other filters, it
// returns the event key and a nil value.
func (s *source) settle(k, iv []byte) ([]byte, []byte, error) {
	for k == nil || !bytes.HasPrefix(k, s.prefix) {
		if s.prefix[0] == classSealed {
			return nil, nil, nil // the end of the sealed range
		}
		next := s.day - 1
		if len(k) >= classBytes+dayBytes && k[0] == classHot {
			// Hot days between k's and this one hold no entries.
			next = min(next, keyDay(k))
		}
		switch {
		case next < s.minDay:
			return nil, nil, nil
		case next <= s.sealed:
			s.prefix = sealedPrefix(s.p.tag)
			k, iv = last(s.c, append(bytes.Clone(s.prefix), ones...))
		default:
			s.day, s.prefix = next, dayPrefix(next, s.p.tag)
			k, iv = last(s.c, append(bytes.Clone(s.prefix), ones[:offBytes]...))
		}
	}
	_, ek := parseIndexKey(k)
	if ek == nil {
		return nil, nil, corruptf("index %q has a malformed key %x", indexBuckets[s.p.kind], k)
	}
	if !s.accept(iv) {
		return ek, nil, nil
	}
	v := s.events.Get(ek)
	if v == nil {
		return nil, nil, corruptf("index %q has entry %x without an event", indexBuckets[s.p.kind], k)
	}
	return ek, v, nil
}

// accept reports whether the tags of index value iv match the path's
// filter. A malformed value is accepted: the event decides.
func (s *source) accept(iv []byte) bool {
	for j := range numIndexes {
		if j == s.p.kind {
			continue
		}
		n := tagLen(iv)
		if n == 0 {
			return true
		}
		if s.p.filter[j] != nil && !bytes.Equal(iv[:n], s.p.filter[j]) {
			return false
		}
		iv = iv[n:]
	}
	return true
}

// last positions c on the greatest key below hi (or the last key when hi
// is nil) and returns it.
func last(c *bolt.Cursor, hi []byte) (k, v []byte) {
	if hi == nil {
		return c.Last()
	}
	if k, _ := c.Seek(hi); k == nil {
		return c.Last()
	}
	return c.Prev() // Seek found the first key >= hi
}

// plan returns the path with the fewest expected candidates for q, and how
// many candidates it expects there.
func (s *Store) plan(tx *bolt.Tx, q *auditevents.Query, b bounds) (path, int, error) {
	var tags [numIndexes][]byte
	if q.User != "" {
		tags[byUser] = s.codec.indexTag(byUser, q.User, false)
	}
	if q.Configuration != "" {
		name, _ := auditevents.SplitConfiguration(q.Configuration)
		tags[byConfiguration] = s.codec.indexTag(byConfiguration, name, false)
	}
	if q.Account != nil {
		tags[byAccount] = s.codec.indexTag(byAccount, *q.Account, false)
	}
	paths := []path{{kind: primary}}
	for k := range numIndexes {
		if tags[k] != nil {
			p := path{kind: k, tag: tags[k], filter: tags}
			p.filter[k] = nil
			paths = append(paths, p)
		}
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
		src, err := newSource(tx, p, b.lo)
		if err != nil {
			return p, 0, err
		}
		est, err := estimate(src, b.lo, b.hi, floor)
		if err != nil {
			return p, 0, err
		}
		cost := est
		if p.kind != primary {
			cost *= indexCostFactor
		}
		if bestCost < 0 || cost < bestCost {
			best, bestEst, bestCost = p, est, cost
		}
	}
	return best, bestEst, nil
}

// estimate returns about how many keys of src lie in [lo, hi). It reads at
// most probeEntries keys: when the range holds more, it extrapolates from
// the time those keys span to the time from the first of them back to floor.
func estimate(src *source, lo, hi []byte, floor int64) (int, error) {
	k, _, err := src.last(hi)
	if err != nil || k == nil || (lo != nil && bytes.Compare(k, lo) < 0) {
		return 0, err
	}
	newest := keyTime(k)
	oldest := newest
	n := 0
	for ; k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, _, err = src.prev() {
		if n == probeEntries {
			span := max(newest-oldest, 1)
			total := max(newest-floor, span)
			est := float64(n) * float64(total) / float64(span)
			return int(min(est, 1<<40)), nil
		}
		oldest = keyTime(k)
		n++
	}
	return n, err
}

// scan collects into buf, newest first, up to want events of path p that
// match q and have keys in [lo, hi). It returns the key to resume below
// (the last it looked at), and whether the range is exhausted.
func (s *Store) scan(tx *bolt.Tx, p path, q *auditevents.Query, lo, hi []byte, buf []auditevents.AuditEvent, want int) (_ []auditevents.AuditEvent, resume []byte, done bool, err error) {
	src, err := newSource(tx, p, lo)
	if err != nil {
		return buf, nil, true, err
	}
	var seen []byte // the last key looked at
	k, v, err := src.last(hi)
	for scanned := 0; err == nil && k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, v, err = src.prev() {
		if scanned == chunkScanned || len(buf) == want {
			// Resume below the last key looked at, not at k: an event
			// appended meanwhile between the two is after the query's
			// position, and must be seen.
			return buf, bytes.Clone(seen), false, nil
		}
		scanned++
		seen = k
		if v == nil {
			continue // the index entry showed that the event does not match
		}
		if len(k) != keyLen {
			return buf, nil, true, corruptf("key %x has %d bytes, want %d", k, len(k), keyLen)
		}
		e, err := s.codec.decode(k, v)
		if err != nil {
			return buf, nil, true, err
		}
		if q.Matches(&e) {
			buf = append(buf, e)
		}
	}
	return buf, nil, true, err
}
