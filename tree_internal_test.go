package auditevents

import (
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// The verifier's compact range computes, leaf by leaf or by aligned
// subtrees read from the store, the tree hash tlog computes.
func TestCompactRange(t *testing.T) {
	const n = 130
	var stored []tlog.Hash
	for i := range n {
		hs, err := tlog.StoredHashes(int64(i), []byte(fmt.Sprint(i)), tlog.HashReaderFunc(func(x []int64) ([]tlog.Hash, error) {
			out := make([]tlog.Hash, len(x))
			for j, k := range x {
				out[j] = stored[k]
			}
			return out, nil
		}))
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	read := tlog.HashReaderFunc(func(x []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(x))
		for j, k := range x {
			out[j] = stored[k]
		}
		return out, nil
	})
	var r compactRange
	if want, _ := tlog.TreeHash(0, read); r.root() != want {
		t.Errorf("empty range: root differs from the empty tree's hash")
	}
	for size := int64(1); size <= n; size++ {
		r.appendSubtree(0, tlog.RecordHash([]byte(fmt.Sprint(size-1))))
		want, err := tlog.TreeHash(size, read)
		if err != nil {
			t.Fatal(err)
		}
		if r.root() != want {
			t.Fatalf("size %d: root differs from tlog.TreeHash", size)
		}
		// Every split of [0, size) into leaves up to lo and stored
		// subtrees from lo spans the same tree.
		for lo := int64(0); lo <= size; lo++ {
			var s compactRange
			for i := range lo {
				s.appendSubtree(0, tlog.RecordHash([]byte(fmt.Sprint(i))))
			}
			next := lo
			alignedSubtrees(lo, size, func(level int, index int64) {
				if index<<level != next {
					t.Fatalf("[%d, %d): subtree (%d, %d) does not start at %d", lo, size, level, index, next)
				}
				next += 1 << level
				s.appendSubtree(level, stored[tlog.StoredHashIndex(level, index)])
			})
			if next != size || s.root() != want {
				t.Fatalf("[0, %d) with stored subtrees from %d: ends at %d, root equal: %v", size, lo, next, s.root() == want)
			}
		}
	}
}
