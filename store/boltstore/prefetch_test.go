package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"slices"
	"testing"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// leaf returns the leaf page that holds key, following the events bucket's
// branch pages as fetch does, or 0 when the tree cannot be followed.
func (pf *prefetcher) leaf(key []byte) uint64 {
	id := pf.root
	for range maxTreeDepth {
		p := pf.page(id)
		if p == nil {
			return 0
		}
		switch binary.LittleEndian.Uint16(p[8:]) {
		case leafPageFlag:
			return id
		case branchPageFlag:
			if id = child(p, key); id == 0 {
				return 0
			}
		default:
			return 0
		}
	}
	return 0
}

// mappedPage returns the page of the file that b, a key or value bbolt
// returned, lies on in the file's mapping described by info.
func mappedPage(info *bolt.Info, b []byte) uint64 {
	return uint64((uintptr(unsafe.Pointer(&b[0])) - info.Data) / uintptr(info.PageSize))
}

// storeOf returns a store holding n events of the Generator seeded with
// seed, appended 1,000 at a time, and the events.
func storeOf(t *testing.T, seed uint64, n int) (*Store, []auditevents.AuditEvent) {
	t.Helper()
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{NoSync: true})
	events := storetest.NewGenerator(seed).Events(n)
	for i := 0; i < len(events); i += 1000 {
		if err := s.Append(context.Background(), events[i:min(i+1000, n)]...); err != nil {
			t.Fatal(err)
		}
	}
	return s, events
}

// TestPrefetcherFindsLeaves checks that the prefetcher's descent of the
// events bucket reaches, for every event, the page bbolt reads the event
// from: the page its value lies on in the mapped file.
func TestPrefetcherFindsLeaves(t *testing.T) {
	if !canAdvise {
		t.Skip("no prefetching on this system")
	}
	s, _ := storeOf(t, 3, 20000)
	err := s.view(func(tx *bolt.Tx) error {
		pf := newPrefetcher(tx, s.file)
		if pf.root == 0 {
			t.Fatal("the events bucket has no root page")
		}
		if p := pf.page(pf.root); p == nil || binary.LittleEndian.Uint16(p[8:]) != branchPageFlag {
			t.Fatal("the events bucket is a single leaf: the descent is not tested")
		}
		info := tx.DB().Info()
		checked := 0
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			checked++
			if checked%7 != 0 {
				continue
			}
			want := mappedPage(info, v)
			if got := pf.leaf(k); got != want {
				t.Fatalf("event %x: the descent reaches page %d, bbolt reads page %d", k, got, want)
			}
		}
		// Keys that are not stored: before the first, after the last,
		// and between two, as the bounds of a query are.
		first, _ := c.First()
		last, _ := c.Last()
		for _, k := range [][]byte{make([]byte, keyLen), first[:keyLen-1], append(last[:keyLen:keyLen], 0), ones} {
			if pf.leaf(k) == 0 {
				t.Errorf("key %x: the descent stops", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keyRanges returns ranges [lo, hi) over keys, the event keys of a store of
// 20,000 events in order (nil: no bound), for the tests of reading a range.
func keyRanges(keys [][]byte) [][2][]byte {
	return [][2][]byte{
		{nil, nil},
		{keys[5000], keys[15000]},
		{keys[100], nil},
		{nil, keys[19000]},
		{keys[7000], keys[7001]},
		{append(keys[3000][:keyLen:keyLen], 1), keys[3500][:keyLen-1]}, // bounds between keys
	}
}

// TestRangedFindsLeaves checks that the windows of leaves the events
// bucket's path asks for are, in order, the leaves a scan of the range
// newest first reads its events from.
func TestRangedFindsLeaves(t *testing.T) {
	if !canAdvise {
		t.Skip("no prefetching on this system")
	}
	s, _ := storeOf(t, 5, 20000)
	err := s.view(func(tx *bolt.Tx) error {
		info := tx.DB().Info()
		c := tx.Bucket(bucketEvents).Cursor()
		var keys [][]byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, k)
		}
		for _, bounds := range keyRanges(keys) {
			lo, hi := bounds[0], bounds[1]
			// The leaves a scan newest first reads, in order.
			var want []uint64
			k, v := seekBelow(c, hi)
			for ; k != nil && (lo == nil || bytes.Compare(k, lo) >= 0); k, v = c.Prev() {
				page := mappedPage(info, v)
				if len(want) == 0 || want[len(want)-1] != page {
					want = append(want, page)
				}
			}
			for _, window := range []int{1, 3, 8, 256} {
				r := &ranged{pf: newPrefetcher(tx, s.file), lo: lo, st: &scanAhead{leaves: window}}
				mark := hi
				if mark == nil {
					mark = ones
				}
				var got []uint64
				for {
					var leaves []uint64
					below, ok := r.collect(r.pf.root, 0, nil, mark, &leaves)
					if !ok {
						t.Fatalf("range %x-%x: the tree cannot be followed", lo, hi)
					}
					if len(leaves) > window {
						t.Fatalf("range %x-%x: a window of %d leaves took %d", lo, hi, window, len(leaves))
					}
					got = append(got, leaves...)
					if below == nil || (lo != nil && bytes.Compare(below, lo) <= 0) {
						break
					}
					mark = below
				}
				if !slices.Equal(got, want) {
					t.Errorf("range %x-%x, windows of %d: asked for %d leaves %v..., the scan reads %d %v...", lo, hi, window, len(got), got[:min(len(got), 5)], len(want), want[:min(len(want), 5)])
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRangedAcrossChunks reads the events bucket in chunks, each a
// transaction, as Query does: once the first chunk found the file cold
// (prefetchAll stands in for a major fault), every later chunk goes on
// asking ahead, though its own first step finds its page in the cache,
// and the leaves asked for always hold the key the scan is at, until the
// whole range has been asked for.
func TestRangedAcrossChunks(t *testing.T) {
	if !canAdvise {
		t.Skip("no prefetching on this system")
	}
	s, events := storeOf(t, 6, 20000)
	var (
		st     scanAhead
		resume []byte // the next chunk's upper bound; nil: the end
		seen   int
	)
	for chunk := 0; ; chunk++ {
		done := false
		err := s.view(func(tx *bolt.Tx) error {
			r := &ranged{src: newSource(tx, path{kind: primary}, nil, false, nil).(*source), pf: newPrefetcher(tx, s.file), all: chunk == 0, st: &st}
			k, _, err := r.start(resume)
			for n := 0; err == nil && k != nil; n++ {
				if !st.on && !st.done {
					t.Fatalf("chunk %d, key %x: no longer asking ahead", chunk, k)
				}
				if st.on && bytes.Compare(st.mark, k) > 0 {
					t.Fatalf("chunk %d, key %x: the leaves asked for hold the keys from %x on, not this one", chunk, k, st.mark)
				}
				seen++
				if n == 1500 {
					resume = bytes.Clone(k)
					return nil
				}
				k, _, err = r.prev()
			}
			done = true
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
	}
	if seen < len(events) || !st.done {
		t.Errorf("scanned %d events (of %d), every leaf asked for: %v", seen, len(events), st.done)
	}
}

// TestPrefetchedStaysCold reads an index path in chunks, each a
// transaction, as Query does: once the first window found the file cold
// (prefetchAll stands in for a major fault), every later window, in this
// chunk and the next ones, asks for its pages before its first lookup
// instead of sampling, and the candidates are those of a plain read of the
// path.
func TestPrefetchedStaysCold(t *testing.T) {
	if !canAdvise {
		t.Skip("no prefetching on this system")
	}
	s, events := storeOf(t, 7, 20000)
	user := events[len(events)/2].User
	p := path{kind: byUser, tag: s.codec.tag(tagUser, user, false)}
	var want [][]byte
	err := s.view(func(tx *bolt.Tx) error {
		src := newSource(tx, p, nil, true, s.memory())
		k, _, err := src.start(nil)
		for ; err == nil && k != nil; k, _, err = src.prev() {
			want = append(want, bytes.Clone(k))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 4*firstWindow {
		t.Fatalf("user %q has %d events: too few for several windows", user, len(want))
	}
	var (
		st     scanAhead
		resume []byte // the next chunk's upper bound; nil: the end
		got    [][]byte
	)
	for chunk := 0; ; chunk++ {
		more := false
		err := s.view(func(tx *bolt.Tx) error {
			src := newSource(tx, p, nil, true, s.memory())
			r := newPrefetched(tx, newPrefetcher(tx, s.file), &p, src, nil, chunk == 0, &st)
			k, _, err := r.start(resume)
			for n := 0; err == nil && k != nil; n++ {
				got = append(got, bytes.Clone(k))
				if n == 100 {
					resume, more = bytes.Clone(k), true
					break
				}
				k, _, err = r.prev()
			}
			if want := max(0, 1-chunk); r.probes != want {
				t.Errorf("chunk %d: %d windows sampled whether the file is cold, want %d", chunk, r.probes, want)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			break
		}
	}
	if !st.cold {
		t.Error("the file found cold by the first window is not remembered")
	}
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Errorf("read %d candidates, a plain read of the path has %d", len(got), len(want))
	}
}

// FuzzChild checks that child never reads outside a damaged page.
func FuzzChild(f *testing.F) {
	page := make([]byte, 64)
	binary.LittleEndian.PutUint16(page[10:], 2)
	binary.LittleEndian.PutUint32(page[16:], 32) // element 0: key at 48, 4 bytes
	binary.LittleEndian.PutUint32(page[20:], 4)
	binary.LittleEndian.PutUint64(page[24:], 7)
	binary.LittleEndian.PutUint32(page[32:], 20) // element 1: key at 52, 4 bytes
	binary.LittleEndian.PutUint32(page[36:], 4)
	binary.LittleEndian.PutUint64(page[40:], 9)
	copy(page[48:], "abcdmnop")
	f.Add(page, []byte("f"))
	f.Add(page[:40], []byte("z"))
	f.Fuzz(func(t *testing.T, p, key []byte) {
		if len(p) < pageHeaderSize {
			return
		}
		child(p, key)
	})
}

// TestLeavesOfRange checks that the leaves the read-ahead lists for a range
// of event keys are, in key order, the pages bbolt reads the range's events
// from, and at most one leaf more, just below the range.
func TestLeavesOfRange(t *testing.T) {
	s, _ := storeOf(t, 7, 20000)
	err := s.view(func(tx *bolt.Tx) error {
		info := tx.DB().Info()
		pageOf := func(k []byte) uint64 { return mappedPage(info, k) }
		c := tx.Bucket(bucketEvents).Cursor()
		check := func(lo, hi []byte) {
			t.Helper()
			var want []uint64 // the leaves of the range's keys, in key order
			k, _ := c.First()
			if lo != nil {
				k, _ = c.Seek(lo)
			}
			for ; k != nil && (hi == nil || bytes.Compare(k, hi) < 0); k, _ = c.Next() {
				if page := pageOf(k); len(want) == 0 || want[len(want)-1] != page {
					want = append(want, page)
				}
			}
			got := newPageReader(tx, s.file).leaves(lo, hi)
			if lo != nil && len(got) > 0 && (len(want) == 0 || got[0] != want[0]) {
				// Only the leaf of the greatest key below lo may come
				// first, when lo does not begin a leaf: then no branch
				// element tells that the leaf holds no key of the range.
				k, _ := seekBelow(c, lo)
				next, _ := c.Next()
				if k != nil && pageOf(k) == got[0] && !(bytes.Equal(next, lo) && pageOf(next) != got[0]) {
					got = got[1:]
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("[%x, %x): leaves %v, bbolt reads the range from %v", lo, hi, got, want)
			}
		}
		var keys [][]byte
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			keys = append(keys, k)
		}
		// Keys that begin a leaf, which are its branch element's too.
		var starts [][]byte
		for i := 1; i < len(keys); i++ {
			if pageOf(keys[i]) != pageOf(keys[i-1]) {
				starts = append(starts, keys[i])
			}
		}
		if len(starts) < 10 {
			t.Fatalf("the events lie on %d leaves, want at least 10", len(starts)+1)
		}
		for _, r := range append(keyRanges(keys),
			[2][]byte{starts[2], starts[7]},
			[2][]byte{starts[3], starts[4]},
			[2][]byte{keys[0], starts[0]},
			[2][]byte{keys[12000], keys[12000]}, // empty
		) {
			check(r[0], r[1])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
