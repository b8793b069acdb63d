package boltstore

import (
	"bytes"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// readAheadFraction: a query expected to touch at least 1/readAheadFraction
// of the file's pages reads the file ahead.
const readAheadFraction = 8

// readAheadChunk is the size of each read of the read-ahead.
const readAheadChunk = 4 << 20

func allResident(vec []byte) bool {
	for _, b := range vec {
		if b&1 == 0 {
			return false
		}
	}
	return true
}

// averageValueBytes is a typical event's share of the events bucket: its
// value, key and bbolt's element header.
const averageValueBytes = 120

// readAhead starts reading the file into the page cache, from its end
// backwards, when the query on path p with est candidates is expected to
// touch a large part of the file, or else prefetches the candidates of an
// index path (see prefetch); it returns a function that stops it.
// Newer events lie towards the end of the file, where a query starts. A
// sequential read of the whole file costs far less than faulting in even a
// fraction of its pages one at a time, which is what a scan of a file that
// is not in the page cache does otherwise.
func (s *Store) readAhead(tx *bolt.Tx, p path, est int, q *auditevents.Query, b bounds) (stop func()) {
	if q.Limit > 0 {
		est = min(est, 16*q.Limit) // a page of results needs few candidates
	}
	size := tx.Size()
	pageSize := int64(tx.DB().Info().PageSize)
	pages := int64(est) // through an index, one page per candidate at worst
	if p.kind == primary {
		pages = int64(est) * averageValueBytes / pageSize
	}
	if pages*readAheadFraction < size/pageSize {
		if p.kind != primary && est >= minPrefetch {
			return s.prefetch(tx, p, b)
		}
		return func() {}
	}
	var stopped atomic.Bool
	addr := tx.DB().Info().Data
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		// Skip what is in the page cache already: when all of it is, the
		// read-ahead costs a look at the kernel's tables and nothing more.
		in := resident(addr, size, int(pageSize))
		var buf []byte
		for off := size; off > 0 && !stopped.Load() && !s.closing(); off -= readAheadChunk {
			start := max(off-readAheadChunk, 0)
			if in != nil && allResident(in[start/pageSize:(off+pageSize-1)/pageSize]) {
				continue
			}
			if buf == nil {
				buf = make([]byte, readAheadChunk)
			}
			if _, err := s.file.ReadAt(buf[:off-start], start); err != nil {
				return // only a hint
			}
		}
	}()
	return func() { stopped.Store(true) }
}

// closing reports whether Close has begun.
func (s *Store) closing() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

// A query through an index that expects at least minPrefetch candidates,
// too few for reading the file ahead, fetches its candidates' events
// prefetchers at a time, ahead of the scan, when less than nine tenths of
// the file is in the page cache: each candidate is a read of a page
// somewhere in the file, and a disk serves many reads in flight much faster
// than the same reads one after the other, which is what the scan's page
// faults are.
const (
	minPrefetch = 64
	prefetchers = 16
)

// prefetch starts the prefetch of the candidates of index path p in range b,
// unless the file is mostly in the page cache already; it returns a
// function that stops it. The prefetch only reads: a failure, even damage
// to the file, ends it quietly, and the scan meets the damage itself.
func (s *Store) prefetch(tx *bolt.Tx, p path, b bounds) (stop func()) {
	size := tx.Size()
	pageSize := tx.DB().Info().PageSize
	in := resident(tx.DB().Info().Data, size, pageSize)
	if in == nil {
		return func() {}
	}
	n := 0
	for _, v := range in {
		n += int(v & 1)
	}
	if n*10 >= len(in)*9 {
		return func() {}
	}
	prefetchRuns.Add(1)
	var stopped atomic.Bool
	keys := make(chan []byte, 4*prefetchers)
	s.bg.Add(1 + prefetchers)
	go func() { // walks the index, index entries only
		defer s.bg.Done()
		defer close(keys)
		hi := b.hi
		for !stopped.Load() && !s.closing() {
			var batch [][]byte
			err := guard(func() error {
				return s.db.View(func(tx *bolt.Tx) error {
					src := newSource(tx, p, b.lo, true)
					k, v, err := src.start(hi)
					for ; err == nil && k != nil && len(batch) < chunkEvents && (b.lo == nil || bytes.Compare(k, b.lo) >= 0); k, v, err = src.prev() {
						if v != nil {
							batch = append(batch, bytes.Clone(k))
						}
						hi = bytes.Clone(k)
					}
					if k == nil || (b.lo != nil && bytes.Compare(k, b.lo) < 0) {
						hi = nil // the end
					}
					return err
				})
			})
			for _, k := range batch {
				keys <- k
			}
			if err != nil || hi == nil {
				return
			}
		}
	}()
	for range prefetchers {
		go func() {
			defer s.bg.Done()
			var sum byte
			for k := range keys {
				if stopped.Load() || s.closing() {
					continue // drain, so that the walker ends
				}
				_ = guard(func() error {
					return s.db.View(func(tx *bolt.Tx) error {
						if v := tx.Bucket(bucketEvents).Get(k); len(v) > 0 {
							sum ^= v[0] ^ v[len(v)-1] // fault the value's pages in
						}
						return nil
					})
				})
			}
			prefetched.Add(uint32(sum))
		}()
	}
	return func() { stopped.Store(true) }
}

var (
	prefetched   atomic.Uint32 // keeps the bytes the prefetch reads from being optimized away
	prefetchRuns atomic.Int64  // how many queries prefetched; for tests
)
