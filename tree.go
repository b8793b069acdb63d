package auditevents

import (
	"fmt"
	"math/bits"

	"golang.org/x/mod/sumdb/tlog"
)

// TreeAppend returns the hashes that an account's tree of size n stores when
// the given leaves are appended to it, leaf n first: the hashes with stored
// indexes tlog.StoredHashCount(n) up to tlog.StoredHashCount(n+len(leaves)),
// in index order, as tlog.StoredHashes would return them one record at a
// time. A store writes them in the same transaction as the events, so that no
// event is committed without its leaf nor a leaf without its event.
//
// r reads the hashes the tree already stores; TreeAppend makes at most one
// call, for the at most log₂ n roots of the complete subtrees of the tree of
// size n, so a store calls it with a reader bound to its open transaction.
// It returns r's error, wrapped, or an error when n is negative or r returns
// the wrong number of hashes. It keeps no state and is safe for concurrent
// use.
func TreeAppend(n int64, leaves []tlog.Hash, r tlog.HashReader) ([]tlog.Hash, error) {
	if n < 0 {
		return nil, fmt.Errorf("auditevents: appending to a tree of negative size %d", n)
	}
	if len(leaves) == 0 {
		return nil, nil
	}
	// frontier[l] is the root of the complete subtree of level l at the
	// right edge of the tree, for each bit l set in the tree's size.
	var frontier [64]tlog.Hash
	if n > 0 {
		var buf [64]int64
		indexes := buf[:0]
		for l := bits.Len64(uint64(n)) - 1; l >= 0; l-- {
			if n>>l&1 == 1 {
				indexes = append(indexes, tlog.StoredHashIndex(l, n>>l-1))
			}
		}
		old, err := r.ReadHashes(indexes)
		if err != nil {
			return nil, fmt.Errorf("auditevents: reading the tree's stored hashes: %w", err)
		}
		if len(old) != len(indexes) {
			return nil, fmt.Errorf("auditevents: reading %d stored hashes returned %d", len(indexes), len(old))
		}
		for l, i := bits.Len64(uint64(n))-1, 0; l >= 0; l-- {
			if n>>l&1 == 1 {
				frontier[l] = old[i]
				i++
			}
		}
	}
	out := make([]tlog.Hash, 0, tlog.StoredHashCount(n+int64(len(leaves)))-tlog.StoredHashCount(n))
	for i, h := range leaves {
		m := n + int64(i)
		out = append(out, h)
		l := 0
		for ; m>>l&1 == 1; l++ { // each trailing 1 bit of m completes a subtree
			h = tlog.NodeHash(frontier[l], h)
			out = append(out, h)
		}
		frontier[l] = h
	}
	return out, nil
}

// compactRange holds the roots of the complete subtrees that cover a prefix
// of a tree, [0, size): enough to compute the prefix's tree hash and to
// extend it by leaves or by aligned subtrees, in O(log size) memory. It is
// what a verifier keeps while it streams a log.
type compactRange struct {
	size  int64
	roots []subtree // one per bit set in size, highest level first
}

// subtree is the root of a complete subtree and its level (log₂ of its
// width).
type subtree struct {
	level int
	hash  tlog.Hash
}

// appendSubtree extends the range by the complete subtree of the given level
// whose root is h. The subtree must start at r.size, which must be a multiple
// of its width.
func (r *compactRange) appendSubtree(level int, h tlog.Hash) {
	r.size += 1 << level
	for len(r.roots) > 0 && r.roots[len(r.roots)-1].level == level {
		h = tlog.NodeHash(r.roots[len(r.roots)-1].hash, h)
		r.roots = r.roots[:len(r.roots)-1]
		level++
	}
	r.roots = append(r.roots, subtree{level, h})
}

// root returns the tree hash of the range: RFC 6962's hash of the tree of
// r.size leaves.
func (r *compactRange) root() tlog.Hash {
	if len(r.roots) == 0 {
		h, _ := tlog.TreeHash(0, nil) // the hash of the empty tree; reads nothing
		return h
	}
	h := r.roots[len(r.roots)-1].hash
	for i := len(r.roots) - 2; i >= 0; i-- {
		h = tlog.NodeHash(r.roots[i].hash, h)
	}
	return h
}

// alignedSubtrees calls fn for each of the maximal complete subtrees that
// cover [lo, hi), left to right, with its level and its index within the
// level: the decomposition by which a verifier spans a range of leaves it
// does not have (a pruned prefix, say) with hashes the tree stores.
func alignedSubtrees(lo, hi int64, fn func(level int, index int64)) {
	for lo < hi {
		level := min(bits.TrailingZeros64(uint64(lo)), 62) // 64 when lo is 0
		for hi-lo < 1<<level {
			level--
		}
		fn(level, lo>>level)
		lo += 1 << level
	}
}
