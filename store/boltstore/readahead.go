package boltstore

import (
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// readAheadFraction: a scan of the events bucket expected to touch at
// least 1/readAheadFraction of the file's pages reads the file ahead.
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
// backwards, when the query reads the events bucket's own path p over est
// events that are expected to fill a large part of the file's pages; it
// returns a function that stops it. Newer events lie towards the end of
// the file, where such a scan starts, and its leaves lie side by side in
// the tree but not in the file: a sequential read of the whole file, index
// pages included, costs less than reading the leaves a window at a time
// (prefetch.go). Measured cold at 1,000,000 events (BenchmarkQuery/export
// /cold, 3 runs each): 0.93-0.95 s with the read-ahead, 2.0-2.2 s without.
//
// An index path never reads ahead: its candidates' pages are asked for a
// window of up to 512 at once, and a value's events are a small part of the
// file even when there are many (one user over all time, 17,613 of
// 1,000,000 events: 0.21-0.24 s and 55 MiB read without the read-ahead,
// 0.45-0.51 s and 435 MiB with it, which read the whole file).
func (s *Store) readAhead(tx *bolt.Tx, p path, est int, q *auditevents.Query) (stop func()) {
	if p.kind != primary {
		return func() {}
	}
	if q.Limit > 0 {
		est = min(est, 16*q.Limit) // a page of results needs few candidates
	}
	size := tx.Size()
	pageSize := int64(tx.DB().Info().PageSize)
	if int64(est)*averageValueBytes/pageSize*readAheadFraction < size/pageSize {
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
