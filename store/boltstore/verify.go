package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// bbolt trusts the page numbers it reads: a damaged file whose pages point
// back to an ancestor sends its cursors, and its own consistency check, into
// endless recursion, which no recover can catch. So before bbolt walks a
// file this package has not written itself in this process, a walker reads
// the page tree with plain reads, checking every page number it follows:
// within the file, pointing to a page whose header carries that number and
// the expected type, and not seen before.
//
// The layout read here is bbolt's (version 2, little-endian on the
// platforms it supports): a 16-byte page header (id uint64, flags uint16,
// count uint16, overflow uint32), then count elements of 16 bytes; a branch
// element is (pos uint32, ksize uint32, pgid uint64), a leaf element is
// (flags uint32, pos uint32, ksize uint32, vsize uint32), with the key at
// pos bytes from the element; a bucket's value is (root uint64, sequence
// uint64), followed by the bucket's only page when root is 0.
const (
	pageHeaderSize = 16
	elementSize    = 16
	branchPageFlag = 0x01
	leafPageFlag   = 0x02
	freelistFlag   = 0x10
	bucketLeafFlag = 0x01
	maxTreeDepth   = 64
)

type walker struct {
	f        *os.File
	pageSize int
	highMark uint64 // pages at or past it are not in the file
	seen     map[uint64]bool
	full     bool // read every page, leaves too
}

// verifyPages walks the tree of tx's file. When full is false it skips the
// leaves of buckets that hold no sub-buckets, which makes it read about one
// page in a hundred; that suffices to rule out cycles among branch pages.
func verifyPages(f *os.File, tx *bolt.Tx, full bool) error {
	w := &walker{
		f:        f,
		pageSize: tx.DB().Info().PageSize,
		seen:     make(map[uint64]bool),
		full:     full,
	}
	w.highMark = uint64(tx.Size()) / uint64(w.pageSize)
	root := uint64(tx.Cursor().Bucket().Root())
	if err := w.tree(root, nil, "root", 0, true); err != nil {
		return err
	}
	return nil
}

// readPage reads page id with its overflow pages.
func (w *walker) readPage(id uint64, what string) ([]byte, error) {
	if id < 2 || id >= w.highMark {
		return nil, corruptf("%s: page %d is outside the file (pages 2 to %d)", what, id, w.highMark-1)
	}
	if w.seen[id] {
		return nil, corruptf("%s: page %d is reached twice", what, id)
	}
	w.seen[id] = true
	buf := make([]byte, w.pageSize)
	if _, err := w.f.ReadAt(buf, int64(id)*int64(w.pageSize)); err != nil {
		return nil, fmt.Errorf("reading page %d: %w", id, err)
	}
	if got := binary.LittleEndian.Uint64(buf); got != id {
		return nil, corruptf("%s: page %d is marked as page %d", what, id, got)
	}
	if overflow := uint64(binary.LittleEndian.Uint32(buf[12:])); overflow > 0 {
		if id+overflow >= w.highMark {
			return nil, corruptf("%s: page %d overflows past the end of the file", what, id)
		}
		for i := uint64(1); i <= overflow; i++ {
			if w.seen[id+i] {
				return nil, corruptf("%s: page %d is reached twice", what, id+i)
			}
			w.seen[id+i] = true
		}
		buf = make([]byte, (overflow+1)*uint64(w.pageSize))
		if _, err := w.f.ReadAt(buf, int64(id)*int64(w.pageSize)); err != nil {
			return nil, fmt.Errorf("reading page %d: %w", id, err)
		}
	}
	return buf, nil
}

// tree checks the bucket tree rooted at page root, or at the inline page
// when root is 0. holdsBuckets says whether its leaves may hold
// sub-buckets, whose trees are checked too.
func (w *walker) tree(root uint64, inline []byte, what string, depth int, holdsBuckets bool) error {
	if root == 0 {
		return w.elements(inline, what, depth, holdsBuckets, true)
	}
	leafDepth := -1
	var visit func(id uint64, d int) error
	visit = func(id uint64, d int) error {
		if d > maxTreeDepth {
			return corruptf("%s: the tree is deeper than %d pages", what, maxTreeDepth)
		}
		p, err := w.readPage(id, what)
		if err != nil {
			return err
		}
		flags := binary.LittleEndian.Uint16(p[8:])
		switch flags {
		case leafPageFlag:
			if leafDepth >= 0 && leafDepth != d {
				return corruptf("%s: leaf page %d is at depth %d, others at %d", what, id, d, leafDepth)
			}
			leafDepth = d
			return w.elements(p, what, depth, holdsBuckets, true)
		case branchPageFlag:
			if leafDepth >= 0 && d >= leafDepth {
				return corruptf("%s: branch page %d is at the depth of leaves", what, id)
			}
			if err := w.elements(p, what, depth, false, false); err != nil {
				return err
			}
			count := int(binary.LittleEndian.Uint16(p[10:]))
			for i := range count {
				child := binary.LittleEndian.Uint64(p[pageHeaderSize+i*elementSize+8:])
				if !w.full && !holdsBuckets && leafDepth == d+1 && i > 0 {
					// A leaf of a bucket without sub-buckets points nowhere:
					// check only that its number is in the file.
					if child < 2 || child >= w.highMark || w.seen[child] {
						return corruptf("%s: branch page %d points to page %d", what, id, child)
					}
					w.seen[child] = true
					continue
				}
				if err := visit(child, d+1); err != nil {
					return err
				}
			}
			return nil
		default:
			return corruptf("%s: page %d has type %#x, want a branch or a leaf", what, id, flags)
		}
	}
	return visit(root, 0)
}

// elements checks the element array of page p and, for a leaf that may
// hold sub-buckets, walks them.
func (w *walker) elements(p []byte, what string, depth int, holdsBuckets, leaf bool) error {
	if len(p) < pageHeaderSize {
		return corruptf("%s: a page of %d bytes", what, len(p))
	}
	count := int(binary.LittleEndian.Uint16(p[10:]))
	if pageHeaderSize+count*elementSize > len(p) {
		return corruptf("%s: page %d has %d elements, more than fit", what, binary.LittleEndian.Uint64(p), count)
	}
	for i := range count {
		at := pageHeaderSize + i*elementSize
		e := p[at : at+elementSize]
		var pos, ksize, vsize uint64
		if leaf {
			pos, ksize, vsize = uint64(binary.LittleEndian.Uint32(e[4:])), uint64(binary.LittleEndian.Uint32(e[8:])), uint64(binary.LittleEndian.Uint32(e[12:]))
		} else {
			pos, ksize = uint64(binary.LittleEndian.Uint32(e)), uint64(binary.LittleEndian.Uint32(e[4:]))
		}
		start := uint64(at) + pos
		if start+ksize+vsize > uint64(len(p)) {
			return corruptf("%s: an element of page %d reaches past the page", what, binary.LittleEndian.Uint64(p))
		}
		if !leaf || binary.LittleEndian.Uint32(e)&bucketLeafFlag == 0 {
			continue
		}
		if !holdsBuckets {
			return corruptf("%s: unexpected sub-bucket %q", what, p[start:start+ksize])
		}
		v := p[start+ksize : start+ksize+vsize]
		if len(v) < 16 {
			return corruptf("%s: sub-bucket %q has a value of %d bytes", what, p[start:start+ksize], len(v))
		}
		name := string(p[start : start+ksize])
		if depth > 0 {
			name = what + "/" + name
		}
		sub := binary.LittleEndian.Uint64(v)
		if err := w.tree(sub, v[16:], name, depth+1, false); err != nil {
			return err
		}
	}
	return nil
}

// Check verifies the whole file: bbolt's consistency check of every page,
// the decoding of every event, the agreement of the ID and secondary
// indexes with the events, and the agreement of each account's log (its
// sequences, leaf checks and kept leaves) with the events, and that every
// stored position is within its account's log. It does not recompute
// the Merkle tree; auditevents.Verify does, against a signed checkpoint.
// It returns nil when all is well, or an error
// wrapping [ErrCorrupt] that lists what it found. It reads the whole file
// in one read transaction, so it takes time on a large store; appends wait
// while it checks the pages (about half a second for a million events
// with the file in the page cache), and go on beside the rest.
func (s *Store) Check(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return auditevents.ErrClosed
	}
	return guard(func() error {
		// bbolt's check reads the file's list of free pages, which a
		// commit changes as it runs (reading it beside one is a data race
		// that stops the program), and takes a page that a commit freed
		// after the transaction began for one reachable and free. So no
		// commit runs from before the transaction begins until the check
		// of the pages is done; the rest reads the transaction's snapshot
		// beside appends.
		tx, err := func() (*bolt.Tx, error) {
			s.commits.Lock()
			defer s.commits.Unlock() // on a panic too, before guard recovers it
			tx, err := s.db.Begin(false)
			if err != nil {
				return nil, err
			}
			checked := false
			defer func() {
				if !checked {
					tx.Rollback()
				}
			}()
			if err := checkPages(s.file, tx); err != nil {
				return nil, err
			}
			checked = true
			return tx, nil
		}()
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := s.checkIndexes(ctx, tx); err != nil {
			return err
		}
		if err := checkPositions(tx); err != nil { // position.go
			return err
		}
		return s.checkLog(ctx, tx) // ledger.go
	})
}

// checkPages checks every page of tx with this package's reader of bbolt's
// layout, which stops at damage, and then with bbolt's own check, which
// may not (a cycle of pages keeps it going).
func checkPages(file *os.File, tx *bolt.Tx) error {
	if err := verifyPages(file, tx, true); err != nil {
		return err
	}
	var problems []error
	for err := range tx.Check() {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return corruptf("%w", errors.Join(problems...))
	}
	return nil
}

// checkIndexes checks that every event decodes and is in each index it
// belongs to, and that each index holds nothing else.
func (s *Store) checkIndexes(ctx context.Context, tx *bolt.Tx) error {
	events := tx.Bucket(bucketEvents)
	ids := tx.Bucket(bucketIDs)
	var counts, got [numIndexes]int // entries wanted by the events, entries found
	hot, layout := tx.Bucket(bucketHot), hotLayoutOf(tx)
	sealed, err := sealedTime(tx)
	if err != nil {
		return err
	}
	n := 0
	err = events.ForEach(func(k, v []byte) error {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e, err := s.codec.decode(k, v)
		if err != nil {
			return err
		}
		switch id := ids.Get(k[8:]); {
		case id == nil:
			return corruptf("event %s has no entry in the ID index", e.ID)
		case s.codec.logged() && !bytes.Equal(id, k[:8]):
			return corruptf("the entry of event %s in the ID index does not give the timestamp of its key", e.ID)
		}
		tags := s.codec.eventTags(&e)
		for kind := range numIndexes {
			tag, ok := indexed(kind, &e, tags)
			if !ok {
				continue
			}
			iv, ok := indexEntry(tx, layout, kind, keyIn(tx.Bucket(indexBuckets[kind]), kind, tag, k, sealed))
			if !ok {
				return corruptf("event %s is missing from index %q", e.ID, indexBuckets[kind])
			}
			if !bytes.Equal(iv, otherTags(kind, tags)) {
				return corruptf("the entry of event %s in index %q holds tags %x, want %x", e.ID, indexBuckets[kind], iv, otherTags(kind, tags))
			}
			counts[kind]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got := ids.Stats().KeyN; got != n {
		return corruptf("the ID index has %d entries for %d events", got, n)
	}
	if count, err := eventCount(tx); err != nil {
		return err
	} else if count != int64(n) {
		return corruptf("the event count is %d for %d events", count, n)
	}
	for kind := range numIndexes {
		b := tx.Bucket(indexBuckets[kind])
		if b == nil && s.noLog {
			continue // format 2 has no actor indexes
		}
		err := b.ForEach(func(k, _ []byte) error {
			if hot != nil && (len(k) == 0 || k[0] != classSealed) {
				return corruptf("index %q has entry %x, which is not sealed (hot entries belong in the hot bucket)", indexBuckets[kind], k)
			}
			_, ek := parseKey(kind, k)
			if ek == nil || events.Get(ek) == nil {
				return corruptf("index %q has entry %x without an event", indexBuckets[kind], k)
			}
			got[kind]++
			return nil
		})
		if err != nil {
			return err
		}
	}
	switch layout {
	case hotInBucket:
		// A file before format 7 without the log, opened read-only: its
		// hot classes are in the index buckets (index.go).
		return matchCounts(&got, &counts)
	case hotByIndex:
		// A file of format 7 without the log, opened read-only.
		err = hot.ForEach(func(k, _ []byte) error {
			if len(k) < 2 || k[0] >= byte(numIndexes) || k[1] != classHot {
				return corruptf("the hot bucket has entry %x of no index", k)
			}
			kind := indexKind(k[0])
			_, ek := parseKey(kind, k[1:])
			if ek == nil || events.Get(ek) == nil {
				return corruptf("the hot bucket has entry %x of index %q without an event", k, indexBuckets[kind])
			}
			got[kind]++
			return nil
		})
	default:
		err = hot.ForEach(func(k, v []byte) error {
			ht, ok := parseHot(v)
			switch {
			case len(k) != keyLen || events.Get(k) == nil:
				return corruptf("the hot bucket has entry %x without an event", k)
			case !ok:
				return corruptf("the hot entry of event %x is malformed: %x", k, v)
			}
			for kind := range numIndexes {
				if ht.tag[kind] != nil {
					got[kind]++
				}
			}
			return nil
		})
	}
	if err != nil {
		return err
	}
	return matchCounts(&got, &counts)
}

// matchCounts reports an index whose entries found, got, are not those its
// events want.
func matchCounts(got, want *[numIndexes]int) error {
	for kind := range numIndexes {
		if got[kind] != want[kind] {
			return corruptf("index %q has %d entries for %d indexed events", indexBuckets[kind], got[kind], want[kind])
		}
	}
	return nil
}
