package boltstore

import (
	"bytes"
	"encoding/binary"
	"os"
	"runtime"

	bolt "go.etcd.io/bbolt"
)

// Reading an index path from a cold page cache.
//
// A query through an index reads the events of its candidates from the
// events bucket, one lookup each, on pages scattered over the file. bbolt
// faults each lookup's pages in one at a time, from the bucket's root down
// to the leaf, so a cold query waits on its disk once per page, in turn,
// although a disk answers many reads at once about as fast as one.
//
// So the candidates of an index path are read a window at a time, from
// index entries only (prefetched), and before their events are looked up,
// the prefetcher finds the pages they lie on by descending the events
// bucket's branch pages with plain reads (bbolt's layout, read as in
// verify.go) and asks the kernel for every page of a level at once
// (POSIX_FADV_WILLNEED), then for the next level: a window costs a few waits
// on the disk instead of one per candidate per level.
//
// Only a query that needs it asks: the first event of each window is
// looked up through bbolt alone, and only when that lookup waited for the
// disk (the thread's count of major page faults grew; the goroutine stays
// on its thread between the two counts) does the prefetcher run for the
// rest of the window. From then on the query has found the file cold, and
// every later window, in this chunk and the next ones, asks for all its
// pages before its first lookup. A warm query pays two getrusage calls per
// window and nothing more.
//
// It is only a hint: a page it cannot read, or that does not have the
// expected header, ends the hint for that candidate, never the query, and
// the events are read through bbolt as before.

// Windows grow from firstWindow candidates, doubling up to maxWindow: a
// query that needs only a page of results does not ask for far more pages
// than it reads, and a long one asks for many at once.
const (
	firstWindow = 32
	maxWindow   = 512
)

// maxCachedBranches bounds the branch pages a prefetcher keeps between
// windows: the pages near the root, which every descent reads.
const maxCachedBranches = 256

// prefetcher finds the events bucket's leaf pages that hold given keys, in
// one read transaction, and asks the kernel to read them.
type prefetcher struct {
	f         *os.File
	pageSize  int64
	high      uint64 // pages at or past it are not in the transaction's file
	root      uint64 // the events bucket's root page; 0 when it has none
	leafDepth int    // how many levels below the root the leaves lie; -1: not known yet
	branches  map[uint64][]byte
}

// newPrefetcher returns a prefetcher for the events bucket of tx, read from
// f, or nil when this system cannot ask the kernel for pages.
func newPrefetcher(tx *bolt.Tx, f *os.File) *prefetcher {
	if !canAdvise || f == nil {
		return nil
	}
	return newPageReader(tx, f)
}

// newPageReader returns a prefetcher for the events bucket of tx, read from
// f, whether or not this system can ask the kernel for pages: its reads of
// branch pages work everywhere.
func newPageReader(tx *bolt.Tx, f *os.File) *prefetcher {
	info := tx.DB().Info()
	pf := &prefetcher{
		f:         f,
		pageSize:  int64(info.PageSize),
		root:      uint64(tx.Bucket(bucketEvents).Root()),
		leafDepth: -1,
	}
	pf.high = uint64(tx.Size() / pf.pageSize)
	return pf
}

// fetch asks the kernel for the pages that hold keys.
func (pf *prefetcher) fetch(keys [][]byte) {
	if pf.root == 0 || len(keys) == 0 {
		return
	}
	at := make([]uint64, len(keys)) // the page each key's descent has reached; 0: done
	for i := range at {
		at[i] = pf.root
	}
	asked := make(map[uint64]bool)
	for depth := 0; depth <= maxTreeDepth; depth++ {
		more := false
		for _, id := range at {
			if id != 0 && !asked[id] {
				asked[id] = true
				if _, cached := pf.branches[id]; !cached {
					advise(pf.f, int64(id)*pf.pageSize, pf.pageSize)
				}
			}
		}
		if depth == pf.leafDepth {
			return // leaves: asked for, and read by bbolt when it needs them
		}
		for i, id := range at {
			if id == 0 {
				continue
			}
			p := pf.page(id)
			at[i] = 0
			if p == nil {
				continue
			}
			switch binary.LittleEndian.Uint16(p[8:]) {
			case branchPageFlag:
				at[i] = child(p, keys[i])
				more = more || at[i] != 0
			case leafPageFlag:
				pf.leafDepth = depth // the tree is balanced: every page at this level is a leaf,
				return               // asked for already
			}
		}
		if !more {
			return
		}
	}
}

// page returns the header of page id or, for a branch page, the whole page;
// nil when it is not in the file or is not marked as page id.
func (pf *prefetcher) page(id uint64) []byte {
	if p, ok := pf.branches[id]; ok {
		return p
	}
	if id < 2 || id >= pf.high {
		return nil
	}
	buf := make([]byte, pf.pageSize)
	if _, err := pf.f.ReadAt(buf, int64(id)*pf.pageSize); err != nil || binary.LittleEndian.Uint64(buf) != id {
		return nil
	}
	if binary.LittleEndian.Uint16(buf[8:]) != branchPageFlag {
		return buf[:pageHeaderSize]
	}
	if overflow := uint64(binary.LittleEndian.Uint32(buf[12:])); overflow > 0 {
		if id+overflow >= pf.high {
			return nil
		}
		buf = make([]byte, int64(overflow+1)*pf.pageSize)
		if _, err := pf.f.ReadAt(buf, int64(id)*pf.pageSize); err != nil {
			return nil
		}
	}
	if pf.branches == nil || len(pf.branches) == maxCachedBranches {
		pf.branches = make(map[uint64][]byte)
	}
	pf.branches[id] = buf
	return buf
}

// child returns the page that branch page p points to for key, as bbolt's
// cursor chooses it: the element with the greatest key not above key, or
// the first; 0 when p is malformed.
func child(p []byte, key []byte) uint64 {
	count := int(binary.LittleEndian.Uint16(p[10:]))
	if count == 0 || pageHeaderSize+count*elementSize > len(p) {
		return 0
	}
	// The first element whose key is not below key.
	lo, hi := 0, count
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		k := elementKey(p, m)
		if k == nil {
			return 0
		}
		if bytes.Compare(k, key) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	i := lo
	if i == count || (i > 0 && !bytes.Equal(elementKey(p, i), key)) {
		i--
	}
	return binary.LittleEndian.Uint64(p[pageHeaderSize+i*elementSize+8:])
}

// elementKey returns the key of element i of branch page p, or nil when it
// lies outside the page.
func elementKey(p []byte, i int) []byte {
	at := pageHeaderSize + i*elementSize
	pos, size := int(binary.LittleEndian.Uint32(p[at:])), int(binary.LittleEndian.Uint32(p[at+4:]))
	if at+pos+size > len(p) {
		return nil
	}
	return p[at+pos : at+pos+size]
}

// prefetched reads the candidates of an index path window by window: it
// reads a window's entries from a source of index entries only, asks the
// prefetcher for the pages of the events they name, then looks the events
// up one at a time as the scan asks for them.
type prefetched struct {
	src    candidates // index entries only
	events *eventGetter
	p      *path
	lo     []byte // the scan stops at a key below it: so does a window
	pf     *prefetcher
	st     *scanAhead // the size of the next window, and whether the file was found cold, from the query's chunks before
	all    bool       // prefetch every window, as if the first were found cold (Options.prefetchAll)

	ahead  []pending // the current window
	next   int       // the index in ahead of the next candidate to return
	sample bool      // the next event looked up tells whether the window is cold
	probes int       // windows whose first lookup was sampled; for tests
	end    bool      // src has no more entries (or failed with err)
	err    error
	keys   [][]byte // scratch
}

// pending is an entry of a window: an event key and whether the index
// entry's tags match (matched) or not (nil).
type pending struct{ k, v []byte }

func newPrefetched(tx *bolt.Tx, pf *prefetcher, p *path, src candidates, lo []byte, all bool, st *scanAhead) *prefetched {
	if st.window == 0 {
		st.window = firstWindow
	}
	return &prefetched{
		src:    src,
		events: newEventGetter(tx),
		p:      p,
		lo:     lo,
		pf:     pf,
		st:     st,
		all:    all,
	}
}

func (s *prefetched) start(hi []byte) (k, v []byte, err error) {
	s.end, s.err = false, nil
	k, v, err = s.src.start(hi)
	return s.fill(k, v, err)
}

func (s *prefetched) prev() (k, v []byte, err error) {
	if s.next < len(s.ahead) {
		return s.emit()
	}
	if s.end {
		return nil, nil, s.err
	}
	k, v, err = s.src.prev()
	return s.fill(k, v, err)
}

// fill reads the window that begins with the entry (k, v, err), asks for
// the pages of its events, and returns its first candidate.
func (s *prefetched) fill(k, v []byte, err error) ([]byte, []byte, error) {
	s.ahead, s.next = s.ahead[:0], 0
	for err == nil && k != nil {
		s.ahead = append(s.ahead, pending{k, v})
		if len(s.ahead) == s.st.window || (s.lo != nil && bytes.Compare(k, s.lo) < 0) {
			break
		}
		k, v, err = s.src.prev()
	}
	if err != nil || k == nil {
		s.end, s.err = true, err
	}
	s.st.window = min(2*s.st.window, maxWindow)
	if len(s.ahead) == 0 {
		return nil, nil, s.err
	}
	s.sample = !s.st.cold
	if s.st.cold {
		s.fetch(0)
	}
	return s.emit()
}

// fetch asks for the pages of the events of the window's candidates from
// the one at from on whose tags match.
func (s *prefetched) fetch(from int) {
	s.keys = s.keys[:0]
	for _, e := range s.ahead[from:] {
		if e.v != nil {
			s.keys = append(s.keys, e.k)
		}
	}
	s.pf.fetch(s.keys)
}

// emit returns the window's next candidate with its event. Unless the
// query has found the file cold already, the first event of the window that
// is looked up tells whether it is.
func (s *prefetched) emit() ([]byte, []byte, error) {
	e := s.ahead[s.next]
	s.next++
	if e.v == nil {
		return e.k, nil, nil
	}
	if !s.sample {
		v, err := s.events.of(s.p.kind, e.k)
		return e.k, v, err
	}
	s.sample = false
	s.probes++
	v, err := s.sampled(e.k)
	return e.k, v, err
}

// sampled looks up the event with key k; when that waited for the disk, the
// query has found the file cold, and it asks for the pages of the window's
// other events.
func (s *prefetched) sampled(k []byte) ([]byte, error) {
	runtime.LockOSThread() // both counts from one thread
	faults := majorFaults()
	v, err := s.events.of(s.p.kind, k)
	cold := majorFaults() != faults
	runtime.UnlockOSThread()
	if cold || s.all {
		s.st.cold = true
		s.fetch(s.next)
	}
	return v, err
}

// candidates returns the candidates of path p in tx whose keys are not
// below lo, read with the prefetching of this file unless it is off; st
// carries what the query's earlier chunks asked for (nil: none). When
// listed is not nil, the candidates are the events it names (see scan).
func (s *Store) candidates(tx *bolt.Tx, p *path, lo []byte, st *scanAhead, listed []byte) candidates {
	var pf *prefetcher
	if !s.noPrefetch {
		pf = newPrefetcher(tx, s.file)
	}
	if st == nil {
		st = new(scanAhead)
	}
	var entries candidates // index entries only
	if listed != nil {
		entries = &keyList{keys: listed}
	}
	switch {
	case pf == nil && entries != nil:
		return &lookedUp{src: entries, events: newEventGetter(tx), p: p}
	case pf == nil:
		return newSource(tx, *p, lo, false, s.memory())
	case p.kind == primary:
		return &ranged{src: newSource(tx, *p, lo, false, nil).(*source), pf: pf, lo: lo, all: s.prefetchAll, st: st}
	default:
		if entries == nil {
			entries = newSource(tx, *p, lo, true, s.memory())
		}
		return newPrefetched(tx, pf, p, entries, lo, s.prefetchAll, st)
	}
}

// keyList is a source of index entries only that the planner has read
// already: the keys of the matching entries, keyLen bytes each, newest
// first.
type keyList struct{ keys []byte }

func (l *keyList) start(hi []byte) (k, v []byte, err error) {
	for len(l.keys) > 0 && hi != nil && bytes.Compare(l.keys[:keyLen], hi) >= 0 {
		l.keys = l.keys[keyLen:]
	}
	return l.prev()
}

func (l *keyList) prev() (k, v []byte, err error) {
	if len(l.keys) == 0 {
		return nil, nil, nil
	}
	k, l.keys = l.keys[:keyLen], l.keys[keyLen:]
	return k, matched, nil
}

// lookedUp looks up the events of the candidates of src, a source of index
// entries only.
type lookedUp struct {
	src    candidates
	events *eventGetter
	p      *path
}

func (l *lookedUp) start(hi []byte) (k, v []byte, err error) { return l.get(l.src.start(hi)) }
func (l *lookedUp) prev() (k, v []byte, err error)           { return l.get(l.src.prev()) }

func (l *lookedUp) get(k, v []byte, err error) ([]byte, []byte, error) {
	if err != nil || k == nil || v == nil {
		return k, v, err
	}
	v, err = l.events.of(l.p.kind, k)
	return k, v, err
}

// The events bucket's own path reads a range of keys in order, newest
// first: its leaves lie side by side in the tree, but not in the file, and
// bbolt maps the file for random access, so the kernel reads each leaf
// only when the scan faults on it. From a cold file (a first step of a
// chunk of the query took a major fault), the scan asks for the leaves of
// its range ahead of it instead, two windows ahead (rangeFirst leaves,
// doubling up to rangeMax), reading only the branch pages above them.
const (
	rangeFirst = 8
	rangeMax   = 256
)

// scanAhead is what the chunks of one query, each a transaction of its
// own, know of the reading ahead that the ones before did: so that a query
// that found the file cold goes on asking ahead, where each later chunk's
// first step, on the leaf the chunk before read last, would seem warm.
type scanAhead struct {
	window int  // the size of an index path's next window of candidates; 0: firstWindow
	cold   bool // an index path's window was found cold: every later window asks ahead

	// The events bucket's path.
	on      bool   // the file was found cold: asking ahead
	done    bool   // every leaf of the range was asked for
	leaves  int    // the size of the next window, in leaves
	mark    []byte // the leaves asked for hold the keys from mark on
	trigger []byte // once the scan is below it, the next window is asked for
}

// ranged reads the events bucket's path through src, and once a first
// step waited for the disk, asks for the leaves of the range ahead of it:
// two windows ahead, the next asked for when the scan enters the last.
type ranged struct {
	src *source
	pf  *prefetcher
	lo  []byte // the range's lower bound; nil: none
	all bool   // prefetch whether cold or not (Options.prefetchAll)
	st  *scanAhead
}

func (r *ranged) start(hi []byte) (k, v []byte, err error) {
	runtime.LockOSThread() // both counts from one thread
	faults := majorFaults()
	k, v, err = r.src.start(hi)
	cold := majorFaults() != faults
	runtime.UnlockOSThread()
	if k != nil && !r.st.on && !r.st.done && (r.all || cold) {
		r.st.on, r.st.leaves = true, rangeFirst
		r.st.mark = append(bytes.Clone(k), 0) // just past k
		r.st.trigger = r.st.mark
	}
	if r.st.on && k != nil {
		r.ahead(k)
	}
	return k, v, err
}

func (r *ranged) prev() (k, v []byte, err error) {
	k, v, err = r.src.prev()
	if r.st.on && k != nil {
		r.ahead(k)
	}
	return k, v, err
}

// ahead asks for the next windows of leaves once the scan, at k, has
// entered the last window asked for.
func (r *ranged) ahead(k []byte) {
	for r.st.on && bytes.Compare(k, r.st.trigger) < 0 {
		var leaves []uint64
		below, ok := r.collect(r.pf.root, 0, nil, r.st.mark, &leaves)
		for _, id := range leaves {
			advise(r.pf.f, int64(id)*r.pf.pageSize, r.pf.pageSize)
		}
		r.st.leaves = min(2*r.st.leaves, rangeMax)
		if !ok || len(leaves) == 0 || below == nil || (r.lo != nil && bytes.Compare(below, r.lo) <= 0) {
			r.st.on, r.st.done = false, true // the range is covered, or the tree cannot be followed
			return
		}
		r.st.trigger, r.st.mark = r.st.mark, below
	}
}

// collect appends to leaves, newest first, the leaves under page id (depth
// levels below the root, holding keys from lower on; nil: from the first)
// that may hold keys below hi, until it has r.st.leaves of them. It returns
// the lowest key the last leaf taken may hold (nil: it is the bucket's
// first), and false when the tree cannot be followed. bbolt's cursor sends
// a key to the last child whose element's key is not above it, the first
// child taking every key below the second's.
func (r *ranged) collect(id uint64, depth int, lower, hi []byte, leaves *[]uint64) (below []byte, ok bool) {
	if depth == r.pf.leafDepth {
		*leaves = append(*leaves, id)
		return lower, true
	}
	p := r.pf.page(id)
	if p == nil || depth > maxTreeDepth {
		return nil, false
	}
	switch binary.LittleEndian.Uint16(p[8:]) {
	case leafPageFlag:
		r.pf.leafDepth = depth // the tree is balanced: every leaf lies as deep
		*leaves = append(*leaves, id)
		return lower, true
	case branchPageFlag:
	default:
		return nil, false
	}
	count := int(binary.LittleEndian.Uint16(p[10:]))
	if count == 0 || pageHeaderSize+count*elementSize > len(p) {
		return nil, false
	}
	for i := count - 1; i >= 0 && len(*leaves) < r.st.leaves; i-- {
		from := lower
		if i > 0 {
			if from = elementKey(p, i); from == nil {
				return nil, false
			}
			if bytes.Compare(from, hi) >= 0 {
				continue // every key the child takes is at or past hi
			}
		}
		child := binary.LittleEndian.Uint64(p[pageHeaderSize+i*elementSize+8:])
		if below, ok = r.collect(child, depth+1, from, hi, leaves); !ok {
			return nil, false
		}
		if below == nil || (r.lo != nil && bytes.Compare(below, r.lo) <= 0) {
			return below, true // nothing of the range lies further down
		}
	}
	return below, true
}

// leaves returns the events bucket's leaf pages that may hold keys in
// [lo, hi) (nil: no bound), in key order, found by reading the branch pages
// above them a level at a time, each level asked for at once; nil when the
// tree cannot be followed.
func (pf *prefetcher) leaves(lo, hi []byte) []uint64 {
	if pf.root == 0 {
		return nil
	}
	level := []uint64{pf.root}
	for depth := 0; depth <= maxTreeDepth; depth++ {
		if depth == pf.leafDepth {
			return level
		}
		if pf.leafDepth < 0 {
			// Whether this level is the leaves', from its first page.
			p := pf.page(level[0])
			if p == nil {
				return nil
			}
			if binary.LittleEndian.Uint16(p[8:]) == leafPageFlag {
				pf.leafDepth = depth // the tree is balanced: every page of this level is a leaf
				return level
			}
		}
		for _, id := range level {
			if _, cached := pf.branches[id]; !cached {
				advise(pf.f, int64(id)*pf.pageSize, pf.pageSize)
			}
		}
		var next []uint64
		for _, id := range level {
			p := pf.page(id)
			if p == nil || binary.LittleEndian.Uint16(p[8:]) != branchPageFlag {
				return nil
			}
			count := int(binary.LittleEndian.Uint16(p[10:]))
			if count == 0 || pageHeaderSize+count*elementSize > len(p) {
				return nil
			}
			// Child i takes the keys from element i's on (the first: every
			// key below the second's) to element i+1's.
			for i := range count {
				if hi != nil && i > 0 {
					k := elementKey(p, i)
					if k == nil {
						return nil
					}
					if bytes.Compare(k, hi) >= 0 {
						break
					}
				}
				if lo != nil && i+1 < count {
					k := elementKey(p, i+1)
					if k == nil {
						return nil
					}
					if bytes.Compare(k, lo) <= 0 {
						continue
					}
				}
				next = append(next, binary.LittleEndian.Uint64(p[pageHeaderSize+i*elementSize+8:]))
			}
			if uint64(len(next)) > pf.high {
				return nil // more pages than the file holds: a damaged tree
			}
		}
		level = next
	}
	return nil
}
