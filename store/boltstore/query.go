package boltstore

import (
	"bytes"
	"context"
	"iter"
	"math"
	"slices"

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

// indexCostFactor is how much more a candidate found through a secondary
// index costs than one read from the events bucket in key order: an index
// entry costs a lookup in the events bucket.
const indexCostFactor = 3

// path is where a query reads its candidates from: the events bucket, or
// one value's entries in a secondary index.
type path struct {
	kind  indexKind // primary for the events bucket
	tag   []byte    // the value's tag in the index
	hiTag []byte    // on an actor index, the last tag of the range [tag, hiTag] the path reads
	// filter holds, for each other tagged field with a filter in the
	// query, the tag of the value the query wants, which index entries
	// must carry.
	filter [numTagged][]byte
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
// its configuration's name, of its account, of its request ID, or of its IP
// address or network, comparing their sizes within q's date range first.
// Other filters are checked on each candidate, and a cursor is a seek.
// Events appended while a query runs are seen by it if they fall after its
// current position.
func (s *Store) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return auditevents.QueryChunks(ctx, q, chunkEvents, func(q *auditevents.Query) (auditevents.ChunkFunc, func()) {
		b := queryBounds(q)
		var (
			p       path
			planned bool
			listed  []byte // from the plan, for the first chunk, in the plan's transaction
			resume  = b.hi // exclusive upper bound of the next chunk; nil: the end
			ahead   scanAhead
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
					if p, est, listed, err = s.plan(tx, q, b); err != nil {
						return err
					}
					planned = true
					stop = s.readAhead(tx, p, est, q)
					if cap(buf) == 0 {
						// Room for the events the plan expects, so that
						// the chunk's slice does not grow by copies.
						buf = make([]auditevents.AuditEvent, 0, max(1, min(want, est)))
					}
				}
				var err error
				buf, resume, done, err = s.scan(tx, p, q, b.lo, resume, buf, want, &ahead, listed)
				listed = nil
				return err
			})
			return buf, done, err
		}
		return next, func() { stop() }
	})
}

// candidates reads the event keys of a path newest first: start returns
// the greatest below hi (nil: no bound), prev the next older, with the
// event's value; nil keys at the end. On an index, the value is nil for an
// entry whose tags show that the event fails the query's other filters,
// and, from a source of index entries only, non-nil and empty for one
// whose tags match.
type candidates interface {
	start(hi []byte) (k, v []byte, err error)
	prev() (k, v []byte, err error)
}

// source reads the event keys of a path newest first. On an index, it
// reads the hot class from the newest entry down, keeping the entries of
// the path's value, then the value's sealed range, which is older.
type source struct {
	c      *bolt.Cursor // on the events, or on the index: its sealed class
	hc     *hotCursor   // on the index's hot class
	events *eventGetter // nil: read index entries only
	p      path
	lo, hi []byte // the range of event keys: [lo, hi); nil: no bound
	sealed bool   // reading the sealed range

	// The value's hot entries from the Store's copy (hot.go), when it
	// can tell what the transaction sees: then the hot class is read from
	// there instead of the file.
	inMemory bool
	mem      hotIter
	txid     uint64 // the transaction: entries written after it are not its own
}

// newSource returns the candidates of path p whose keys are not below lo,
// reading the hot class of the user, configuration and account indexes
// from hot when it can tell what tx sees. Their values are the events', or
// when keysOnly is set (on an index), whether the entry's tags match:
// non-nil, empty, when they do.
func newSource(tx *bolt.Tx, p path, lo []byte, keysOnly bool, hot *hotCopy) candidates {
	var events *eventGetter
	if !keysOnly && p.kind != primary {
		events = newEventGetter(tx)
	}
	if isActor(p.kind) {
		src := &actorSource{c: tx.Bucket(indexBuckets[p.kind]).Cursor(), hc: newHotCursor(tx, p.kind), events: events, p: p, lo: lo}
		src.hc.want, src.hc.lo = src.inRange, lo
		return src
	}
	src := &source{events: events, p: p, lo: lo}
	if p.kind == primary {
		src.c = tx.Bucket(bucketEvents).Cursor()
		return src
	}
	src.c, src.hc = tx.Bucket(indexBuckets[p.kind]).Cursor(), newHotCursor(tx, p.kind)
	src.hc.want = func(tag []byte) bool { return bytes.Equal(tag, src.p.tag) }
	src.hc.lo = lo
	src.txid = uint64(tx.ID())
	src.mem.l, src.inMemory = hot.entries(p.kind, p.tag, src.txid)
	return src
}

// eventGetter looks events up by key through one cursor. bbolt's Get
// makes a cursor per call, whose stack of pages costs allocations on every
// lookup; a cursor's Seek reuses its stack.
type eventGetter struct{ c *bolt.Cursor }

func newEventGetter(tx *bolt.Tx) *eventGetter {
	return &eventGetter{c: tx.Bucket(bucketEvents).Cursor()}
}

// get returns the value of the event with key k, or nil when there is
// none.
func (g *eventGetter) get(k []byte) []byte {
	if got, v := g.c.Seek(k); bytes.Equal(got, k) {
		return v
	}
	return nil
}

// of returns the value of the event with key ek, which an entry of index
// kind names, or ErrCorrupt when there is none.
func (g *eventGetter) of(kind indexKind, ek []byte) ([]byte, error) {
	if v := g.get(ek); v != nil {
		return v, nil
	}
	return nil, corruptf("index %q has an entry for event %x, which is missing", indexBuckets[kind], ek)
}

var ones = bytes.Repeat([]byte{0xFF}, keyLen)

// start returns the greatest event key below hi (nil: no bound) and the
// event's value, or nil at the end of the path.
func (s *source) start(hi []byte) (k, v []byte, err error) {
	if s.p.kind == primary {
		k, v = seekBelow(s.c, hi)
		return k, v, nil
	}
	s.hi, s.sealed = hi, false
	if s.inMemory {
		s.mem.seekBelow(hi)
		return s.fromMemory()
	}
	bound := []byte{classSealed} // past every hot key
	if hi != nil {
		bound = append([]byte{classHot}, hi...)
	}
	k, iv := s.hc.below(bound)
	return s.resolve(k, iv)
}

// fromMemory returns the next candidate among the value's hot entries in
// memory that the transaction sees, or goes on with the sealed range.
func (s *source) fromMemory() ([]byte, []byte, error) {
	for r := s.mem.next(); r != nil; r = s.mem.next() {
		if s.lo != nil && bytes.Compare(r.ek[:], s.lo) < 0 {
			break
		}
		if r.txid <= s.txid {
			return candidate(s.events, &s.p, r.ek[:], r.ek[:], r.iv)
		}
	}
	s.mem.ib, s.mem.it = -1, -1
	return s.resolve(nil, nil) // the end of the hot class
}

// prev returns the next older event key and value, or nil at the end.
func (s *source) prev() (k, v []byte, err error) {
	switch {
	case s.p.kind == primary:
		k, v = s.c.Prev()
		return k, v, nil
	case s.sealed:
		k, v = s.c.Prev()
	case s.inMemory:
		return s.fromMemory()
	default:
		k, v = s.hc.prev()
	}
	return s.resolve(k, v)
}

// matched is the value of an index entry whose tags match, from a source
// of index entries only.
var matched = []byte{}

// resolve turns the index entry (k, iv), where the cursor stands, into an
// event key and value. In the hot class it moves on, older, past the
// entries of other values; at the end of the hot class, to the value's
// sealed range. For an entry whose tags show that the event fails the
// query's other filters, it returns the event key and a nil value.
func (s *source) resolve(k, iv []byte) ([]byte, []byte, error) {
	var ek []byte
	for !s.sealed {
		if k == nil || k[0] != classHot || (s.lo != nil && bytes.Compare(k[1:], s.lo) < 0) {
			// The end of the hot class, or of the range within it.
			s.sealed = true
			prefix := sealedPrefix(s.p.tag)
			bound := append(prefix, ones...)
			if s.hi != nil {
				bound = append(prefix, s.hi...)
			}
			k, iv = seekBelow(s.c, bound)
			break
		}
		var tag []byte
		if tag, ek = parseIndexKey(k); ek == nil {
			return nil, nil, corruptf("index %q has a malformed key %x", indexBuckets[s.p.kind], k)
		}
		if bytes.Equal(tag, s.p.tag) {
			break
		}
		k, iv = s.hc.prev()
	}
	if s.sealed {
		if k == nil || k[0] != classSealed || !bytes.HasPrefix(k[1:], s.p.tag) {
			return nil, nil, nil // the end of the value's sealed range
		}
		var tag []byte
		if tag, ek = parseIndexKey(k); ek == nil {
			return nil, nil, corruptf("index %q has a malformed key %x", indexBuckets[s.p.kind], k)
		}
		if !bytes.Equal(tag, s.p.tag) {
			return nil, nil, nil // another value whose tag starts with this one's
		}
	}
	return candidate(s.events, &s.p, k, ek, iv)
}

// candidate returns the event key ek of the index entry (k, iv) of path p
// with the event's value from events, or with matched when events is nil,
// or with a nil value when the entry's tags show that the event fails p's
// filter.
func candidate(events *eventGetter, p *path, k, ek, iv []byte) ([]byte, []byte, error) {
	if !accept(p, iv) {
		return ek, nil, nil
	}
	if events == nil {
		return ek, matched, nil
	}
	v, err := events.of(p.kind, ek)
	return ek, v, err
}

// accept reports whether the tags of index value iv match p's filter. A
// malformed value is accepted: the event decides.
func accept(p *path, iv []byte) bool {
	for j := range taggedField(numTagged) {
		if j == p.kind.own() {
			continue
		}
		n := tagLen(iv)
		if n == 0 {
			return true
		}
		if p.filter[j] != nil && !bytes.Equal(iv[:n], p.filter[j]) {
			return false
		}
		iv = iv[n:]
	}
	return true
}

// actorSource reads the candidates of a path on an actor index: the hot
// class from the newest entry down, keeping the entries whose tags lie in
// the path's range, then each period of the sealed class from the newest,
// that period's entries in the range sorted newest first (see index.go).
type actorSource struct {
	c      *bolt.Cursor // on the index: its sealed class
	hc     *hotCursor   // on the index's hot class
	events *eventGetter // nil: read index entries only
	p      path
	lo, hi []byte // the range of event keys: [lo, hi); nil: no bound
	sealed bool   // reading the sealed class
	period []byte // the prefix of the period being read; nil: none left
	found  []actorEntry
	next   int // the index in found of the next entry to return
}

// actorEntry is an entry of one period that lies in the path's range.
type actorEntry struct{ k, ek, iv []byte }

func (s *actorSource) start(hi []byte) (k, v []byte, err error) {
	s.hi, s.sealed, s.found, s.next = hi, false, s.found[:0], 0
	bound := []byte{classSealed} // past every hot key
	if hi != nil {
		bound = append([]byte{classHot}, hi...)
	}
	k, iv := s.hc.below(bound)
	return s.hot(k, iv)
}

func (s *actorSource) prev() (k, v []byte, err error) {
	if !s.sealed {
		k, iv := s.hc.prev()
		return s.hot(k, iv)
	}
	return s.fromPeriods()
}

// inRange reports whether tag lies in the path's range of tags.
func (s *actorSource) inRange(tag []byte) bool {
	return bytes.Compare(tag, s.p.tag) >= 0 && bytes.Compare(tag, s.p.hiTag) <= 0
}

// hot returns the first candidate of the hot class at or older than the
// cursor's entry (k, iv); at the end of the hot class it goes on with the
// sealed class.
func (s *actorSource) hot(k, iv []byte) ([]byte, []byte, error) {
	for k != nil && k[0] == classHot {
		tag, ek := parseKey(s.p.kind, k)
		if ek == nil {
			return nil, nil, corruptf("index %q has a malformed key %x", indexBuckets[s.p.kind], k)
		}
		if s.lo != nil && bytes.Compare(ek, s.lo) < 0 {
			break
		}
		if s.inRange(tag) {
			return candidate(s.events, &s.p, k, ek, iv)
		}
		k, iv = s.hc.prev()
	}
	// The sealed class: from the oldest period not before hi's time,
	// which may hold events before hi, or the newest period.
	s.sealed = true
	var pk []byte
	if s.hi != nil {
		pk, _ = s.c.Seek(periodPrefix(keyTime(s.hi)))
	}
	if pk == nil || pk[0] != classSealed {
		pk, _ = s.c.Last()
	}
	s.setPeriod(pk)
	return s.fromPeriods()
}

// setPeriod makes the period of sealed key k the next to read; a key that
// is not sealed, or a period before lo's time, ends the sealed class.
func (s *actorSource) setPeriod(k []byte) {
	s.period = nil
	if len(k) > 1+8 && k[0] == classSealed && (s.lo == nil || keyTime(k[1:]) >= keyTime(s.lo)) {
		s.period = bytes.Clone(k[:1+8])
	}
}

// fromPeriods returns the next candidate of the sealed class: the next of
// the current period's entries, or of the next older period with any.
func (s *actorSource) fromPeriods() ([]byte, []byte, error) {
	for s.next == len(s.found) {
		if s.period == nil {
			return nil, nil, nil
		}
		if err := s.readPeriod(); err != nil {
			return nil, nil, err
		}
		// The period before: the last key below this one's prefix.
		s.c.Seek(s.period)
		pk, _ := s.c.Prev()
		s.setPeriod(pk)
	}
	e := s.found[s.next]
	s.next++
	return candidate(s.events, &s.p, e.k, e.ek, e.iv)
}

// readPeriod collects the entries of the current period whose tags lie in
// the path's range and whose events lie in [lo, hi), newest first.
func (s *actorSource) readPeriod() error {
	s.found, s.next = s.found[:0], 0
	prefix := s.period
	for k, iv := s.c.Seek(append(bytes.Clone(prefix), s.p.tag...)); k != nil && bytes.HasPrefix(k, prefix); k, iv = s.c.Next() {
		tag, ek := parseKey(s.p.kind, k)
		if ek == nil {
			return corruptf("index %q has a malformed key %x", indexBuckets[s.p.kind], k)
		}
		if bytes.Compare(tag, s.p.hiTag) > 0 {
			break
		}
		if (s.lo == nil || bytes.Compare(ek, s.lo) >= 0) && (s.hi == nil || bytes.Compare(ek, s.hi) < 0) {
			s.found = append(s.found, actorEntry{k: k, ek: ek, iv: iv})
		}
	}
	slices.SortFunc(s.found, func(a, b actorEntry) int { return bytes.Compare(b.ek, a.ek) })
	return nil
}

// seekBelow positions c on the greatest key below hi (or the last key when
// hi is nil) and returns it.
func seekBelow(c *bolt.Cursor, hi []byte) (k, v []byte) {
	if hi == nil {
		return c.Last()
	}
	if k, _ := c.Seek(hi); k == nil {
		return c.Last()
	}
	return c.Prev() // Seek found the first key >= hi
}

// plan returns the path with the fewest expected candidates for q, and how
// many events it expects to read there. The events bucket's share of a
// range is estimated from the event count, as if events were spread evenly
// over time; an index path's entries in the range are counted, reading
// index entries only, and no further than a count that would lose.
//
// When the chosen path is an index path counted to its end, plan also
// returns the keys of its matching entries (keyLen bytes each, newest
// first) if there are at most maxListed of them: a scan in the same
// transaction looks up those events instead of reading the entries again.
// Otherwise listed is nil.
func (s *Store) plan(tx *bolt.Tx, q *auditevents.Query, b bounds) (_ path, est int, listed []byte, _ error) {
	best := path{kind: primary}
	bestEst, err := estimateRange(tx, b)
	if err != nil {
		return best, 0, nil, err
	}
	bestCost := bestEst
	var (
		counters []*counter
		chosen   *counter // the best path's, when it is an index path
	)
	for _, p := range s.indexPaths(tx, q) {
		c, err := newCounter(tx, p, b, s.memory())
		if err != nil {
			return p, 0, nil, err
		}
		counters = append(counters, c)
	}
	// Count the paths in rounds, each on from where its last round
	// stopped, up to a limit that doubles, so that the cheapest path's
	// count bounds how far the others are read: a query for a user and a
	// configuration does not count the user's thousands of entries when
	// the configuration has a hundred. A path left alone is counted to its
	// end (or the bound) at once.
	for limit := firstCount; len(counters) > 0; limit *= 2 {
		if len(counters) == 1 {
			limit = bestCost // nothing left to bound it: to its end at once
		}
		limit = min(limit, bestCost)
		left := counters[:0]
		for _, c := range counters {
			if err := c.count(limit); err != nil {
				return c.p, 0, nil, err
			}
			cost := c.entries + c.matching*indexCostFactor
			switch {
			case c.end() && cost < bestCost: // all of them
				best, bestEst, bestCost, chosen = c.p, c.matching, cost, c
			case !c.end() && c.entries < bestCost && cost < bestCost:
				left = append(left, c) // more to count, and it may still win
			}
		}
		counters = left
	}
	if chosen != nil && !chosen.overflow {
		listed = chosen.listed
		if listed == nil {
			listed = []byte{} // none matches: the scan has nothing to read
		}
	}
	return best, bestEst, listed, nil
}

// maxListed is how many matching entries' keys the planner keeps of each
// path it counts; a path with more is read again by the scan.
const maxListed = chunkEvents

// counter counts the entries of index path p in a range from the newest,
// a round at a time, and how many of them match p's filter, keeping the
// keys of the matching ones while they are at most maxListed.
type counter struct {
	p                 path
	src               candidates // index entries only
	lo                []byte     // the range's lower bound; nil: none
	k, v              []byte     // the next entry to count
	entries, matching int
	listed            []byte // the matching entries' keys, keyLen bytes each
	overflow          bool   // more matching entries than listed holds
}

// newCounter returns a counter of the entries of path p in the range b.
func newCounter(tx *bolt.Tx, p path, b bounds, hot *hotCopy) (*counter, error) {
	c := &counter{p: p, src: newSource(tx, p, b.lo, true, hot), lo: b.lo}
	var err error
	c.k, c.v, err = c.src.start(b.hi)
	return c, err
}

// end reports whether every entry in the range is counted.
func (c *counter) end() bool {
	return c.k == nil || (c.lo != nil && bytes.Compare(c.k, c.lo) < 0)
}

// count counts entries until it has counted limit of them in all, or the
// range ends.
func (c *counter) count(limit int) (err error) {
	for c.entries < limit && !c.end() {
		c.entries++
		if c.v != nil {
			c.matching++
			switch {
			case c.overflow:
			case c.matching > maxListed || len(c.k) != keyLen: // a key of another size: the scan says what is wrong
				c.listed, c.overflow = nil, true
			default:
				c.listed = append(c.listed, c.k...)
			}
		}
		if c.k, c.v, err = c.src.prev(); err != nil {
			return err
		}
	}
	return nil
}

// indexPaths returns the index paths that can answer q: one per filter
// with an index, each with the tags the query's other filters want.
func (s *Store) indexPaths(tx *bolt.Tx, q *auditevents.Query) []path {
	var tags [numTagged][]byte
	if q.User != "" {
		tags[tagUser] = s.codec.tag(tagUser, q.User, false)
	}
	if q.Configuration != "" {
		name, version := auditevents.SplitConfiguration(q.Configuration)
		tags[tagConfigName] = s.codec.tag(tagConfigName, name, false)
		if version != "" {
			tags[tagConfiguration] = s.codec.tag(tagConfiguration, q.Configuration, false)
		}
	}
	if q.Account != nil {
		tags[tagAccount] = s.codec.tag(tagAccount, *q.Account, false)
	}
	var paths []path
	for k := range numIndexes {
		p := path{kind: k, filter: tags}
		switch {
		case k == byRequestID && q.RequestID != "":
			p.tag = hashedTag(q.RequestID)
			p.hiTag = p.tag
		case k == byIPAddress && q.IPAddress.IsValid():
			p.tag, p.hiTag = ipRange(q.IPAddress)
		case k < byRequestID && tags[k] != nil:
			p.tag = tags[k]
			p.filter[k] = nil
		}
		if p.tag == nil || tx.Bucket(indexBuckets[k]) == nil || (s.scanActor && k >= byRequestID) { // format 2 (Options.NoLog) has no actor indexes
			continue
		}
		paths = append(paths, p)
	}
	return paths
}

// firstCount is how many entries the planner counts of each index path
// in its first round; each round doubles it.
const firstCount = 64

// estimateRange returns about how many events lie in the range b: the
// event count times the share of the stored events' time span that b
// covers.
func estimateRange(tx *bolt.Tx, b bounds) (int, error) {
	count, err := eventCount(tx)
	if err != nil || count == 0 || (b.lo == nil && b.hi == nil) {
		return int(count), err
	}
	c := tx.Bucket(bucketEvents).Cursor()
	first, _ := c.First()
	last, _ := c.Last()
	if first == nil {
		return 0, nil
	}
	oldest, newest := keyTime(first), keyTime(last)+1
	lo, hi := oldest, newest
	if b.lo != nil {
		lo = max(lo, keyTime(b.lo))
	}
	if b.hi != nil {
		hi = min(hi, keyTime(b.hi)+1) // +1: the bound may be a key within its microsecond
	}
	if hi <= lo {
		return 0, nil
	}
	return int(math.Ceil(float64(count) * float64(hi-lo) / float64(newest-oldest))), nil
}

// scan collects into buf, newest first, up to want events of path p that
// match q and have keys in [lo, hi). It returns the key to resume below
// (the last it looked at), and whether the range is exhausted. When listed
// is not nil, it holds the keys of every entry of p in [lo, hi) in tx
// whose tags match, as plan returns them, and the scan reads only those.
func (s *Store) scan(tx *bolt.Tx, p path, q *auditevents.Query, lo, hi []byte, buf []auditevents.AuditEvent, want int, st *scanAhead, listed []byte) (_ []auditevents.AuditEvent, resume []byte, done bool, err error) {
	src := s.candidates(tx, &p, lo, st, listed)
	var seen []byte // the last key looked at
	k, v, err := src.start(hi)
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
