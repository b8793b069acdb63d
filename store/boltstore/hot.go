package boltstore

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// The hot class in memory.
//
// The hot entries of an index lie in time order, whatever their value
// (index.go), so a query for one value reads the whole hot class to find
// its own: up to defaultSealAfter entries, most of them another value's,
// twice (the planner counts them, then the scan reads them). That costs
// more than the rest of a query for a configuration, and, from a cold
// file, a read of every hot page. So the Store keeps a copy of the hot
// entries of the user, configuration and account indexes in memory, by
// value, in event key order, and a query reads its value's hot entries
// from there, and only its sealed range from the file. The file is
// unchanged: the copy is rebuilt from it whenever it cannot be trusted.
//
// The copy must show each read transaction exactly the hot entries that
// transaction would read in the file. Each entry carries the ID of the
// transaction that wrote it. The copy holds every hot entry written from
// transaction base on (the one that built it from the file, or that
// sealed), through transaction through. A read transaction T uses it when
// base <= T, and either T <= through or no transaction that changes hot
// entries has begun since through (pending): a transaction that only
// writes forwarders' positions leaves the copy as good as it was. T sees
// the entries written at or before T. Any other read transaction reads the
// hot class from the file, as before. So the writer marks the copy pending
// before it begins a transaction and adds the entries only after it
// commits; Prune discards the copy before it commits; and the writer's
// next transaction builds it again from the file.
//
// Readers take the entries of a value under a read lock and read them
// after releasing it: the writer never changes an entry that it has
// published. A value's entries are two sorted runs (hotList): a long one,
// appended to in place (past the length any reader took) while entries
// arrive in order, and a short one that a transaction's entries arriving
// out of order are merged into, in a new array, and that is merged into
// the long one, in a new array, once it outgrows maxHotTail. So a
// transaction costs each value it touches the length of its short run.
type hotCopy struct {
	mu      sync.RWMutex
	valid   bool   // the copy may be used; false until built, and after Prune
	pending bool   // a transaction that may change hot entries has begun
	base    uint64 // the transaction from which the copy holds every hot entry
	through uint64 // the last transaction whose entries the copy holds
	gen     uint64 // counts discards: a transaction begun before one must not validate the copy
	values  [byRequestID]map[string]hotList
}

// hotRef is a hot index entry: the event's key, and the entry's value (the
// tags of the event's other fields).
type hotRef struct {
	ek   [keyLen]byte
	iv   []byte
	txid uint64 // the transaction that wrote the entry
}

// hotAdd is an entry a transaction adds to the hot class of index kind.
// The copy keeps iv: it is the value the transaction wrote (otherTags, a
// new array per entry), which nothing changes after.
type hotAdd struct {
	kind   indexKind
	tag    string
	ek, iv []byte
}

// hotList is a value's hot entries in event key order, as two sorted runs
// that a reader merges: base, long, and tail, the entries inserted before
// others since base was last rewritten, short.
type hotList struct{ base, tail []hotRef }

// maxHotTail bounds a list's tail: an entry inserted out of order copies
// the tail, and once in maxHotTail entries the base.
const maxHotTail = 256

// insert returns l with run, entries in event key order: appended to the
// base in place when the tail is empty and they all follow the base's
// entries, as most do, else merged into the tail, in a new array, which is
// merged into the base once it outgrows maxHotTail.
func (l hotList) insert(run []hotRef) hotList {
	if len(l.tail) == 0 && (len(l.base) == 0 || bytes.Compare(l.base[len(l.base)-1].ek[:], run[0].ek[:]) <= 0) {
		l.base = append(l.base, run...) // past the length any reader took
		return l
	}
	if l.tail = mergeRefs(l.tail, run); len(l.tail) > maxHotTail {
		l.base, l.tail = mergeRefs(l.base, l.tail), nil
	}
	return l
}

// len returns the number of entries of l.
func (l hotList) len() int { return len(l.base) + len(l.tail) }

// mergeRefs returns the entries of a and b, each in event key order, in
// event key order, in a new array.
func mergeRefs(a, b []hotRef) []hotRef {
	out := make([]hotRef, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if bytes.Compare(a[0].ek[:], b[0].ek[:]) <= 0 {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// hotIter reads a hotList from its newest entry down.
type hotIter struct {
	l      hotList
	ib, it int // the index of the next entry in l.base and l.tail; -1: none
}

// seekBelow positions the iterator on the greatest entry below hi (nil: no
// bound).
func (h *hotIter) seekBelow(hi []byte) {
	below := func(refs []hotRef) int {
		if hi == nil {
			return len(refs) - 1
		}
		i, _ := slices.BinarySearchFunc(refs, hi, func(r hotRef, hi []byte) int { return bytes.Compare(r.ek[:], hi) })
		return i - 1
	}
	h.ib, h.it = below(h.l.base), below(h.l.tail)
}

// next returns the entry the iterator is on and moves it down, or nil at
// the end.
func (h *hotIter) next() *hotRef {
	switch {
	case h.ib < 0 && h.it < 0:
		return nil
	case h.it < 0 || (h.ib >= 0 && bytes.Compare(h.l.base[h.ib].ek[:], h.l.tail[h.it].ek[:]) > 0):
		h.ib--
		return &h.l.base[h.ib+1]
	default:
		h.it--
		return &h.l.tail[h.it+1]
	}
}

// entries returns the hot entries of tag in index k, for read transaction
// txid to filter by their txid, or ok false when the copy cannot tell what
// txid sees.
func (h *hotCopy) entries(k indexKind, tag []byte, txid uint64) (l hotList, ok bool) {
	if h == nil {
		return hotList{}, false
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !h.valid || txid < h.base || (txid > h.through && h.pending) {
		return hotList{}, false
	}
	return h.values[k][string(tag)], true
}

// begin marks the copy pending: a write transaction that may change hot
// entries is about to begin. It reports whether the copy is valid (when it
// is not, the transaction builds it with buildHot), and the generation to
// give end.
func (h *hotCopy) begin() (valid bool, gen uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending = true
	return h.valid, h.gen
}

// discard makes every read transaction from now on read the hot class
// from the file, until the copy is built again. Call it inside a write
// transaction that removes hot entries, before it commits.
func (h *hotCopy) discard() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.valid, h.pending = false, true
	h.gen++
	h.values = [byRequestID]map[string]hotList{}
}

// end records the outcome of the write transaction txid that begin
// announced, with begin's generation: when it committed, the entries it
// added to the hot class, or, when it sealed, an empty hot class; and when
// it built the copy again, the copy it built. A transaction that failed
// leaves the copy as it was; one that may have reached the file although
// it failed must discard the copy instead. A discard since begin leaves
// the copy discarded.
func (h *hotCopy) end(gen, txid uint64, committed bool, built *[byRequestID]map[string]hotList, sealed bool, added []hotAdd) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pending = false
	switch {
	case !committed || gen != h.gen:
		return
	case sealed:
		h.values = [byRequestID]map[string]hotList{}
		h.valid, h.base = true, txid
	case built != nil:
		h.values = *built
		h.valid, h.base = true, txid
	case !h.valid:
		return
	}
	for k := range h.values {
		if h.values[k] == nil {
			h.values[k] = make(map[string]hotList)
		}
	}
	if !sealed {
		// Each value's entries of the transaction, in event key order,
		// inserted at once. added holds the entries in event key order
		// (hotAdded), so the stable sort leaves each value's run in
		// event key order.
		slices.SortStableFunc(added, func(a, b hotAdd) int {
			return cmp.Or(cmp.Compare(a.kind, b.kind), strings.Compare(a.tag, b.tag))
		})
		for i := 0; i < len(added); {
			j := i + 1
			for j < len(added) && added[j].kind == added[i].kind && added[j].tag == added[i].tag {
				j++
			}
			run := make([]hotRef, j-i)
			for n, a := range added[i:j] {
				run[n] = hotRef{ek: [keyLen]byte(a.ek), iv: a.iv, txid: txid}
			}
			h.values[added[i].kind][added[i].tag] = h.values[added[i].kind][added[i].tag].insert(run)
			i = j
		}
	}
	h.through = txid
}

// buildHot reads the hot class of the user, configuration and account
// indexes of tx, as entries written by transaction txid.
func buildHot(tx *bolt.Tx, txid uint64) (*[byRequestID]map[string]hotList, error) {
	var values [byRequestID]map[string]hotList
	for k := range byRequestID {
		values[k] = make(map[string]hotList)
		hc := newHotCursor(tx, k)
		for key, v := hc.below([]byte{classSealed}); key != nil; key, v = hc.prev() { // newest first
			tag, ek := parseIndexKey(key)
			if ek == nil {
				return nil, corruptf("index %q has a malformed hot key %x", indexBuckets[k], key)
			}
			l := values[k][string(tag)]
			l.base = append(l.base, hotRef{ek: [keyLen]byte(ek), iv: bytes.Clone(v), txid: txid})
			values[k][string(tag)] = l
		}
		for _, l := range values[k] {
			slices.Reverse(l.base) // in key order
		}
	}
	return &values, nil
}

// loadHot builds the copy from the file when the Store opens. A hot class
// it cannot read leaves the copy invalid: queries read the file, and report
// what is wrong with it.
func (s *Store) loadHot() {
	guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			txid := uint64(tx.ID())
			built, err := buildHot(tx, txid)
			if err == nil {
				_, gen := s.hot.begin()
				s.hot.end(gen, txid, true, built, false, nil)
			}
			return nil
		})
	})
}

// memory returns the copy of the hot class for queries to read, or nil
// when they read the file (Options.noHotCopy).
func (s *Store) memory() *hotCopy {
	if s.noHotCopy {
		return nil
	}
	return &s.hot
}
