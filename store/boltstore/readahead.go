package boltstore

import (
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
// touch a large part of the file; it returns a function that stops it.
// Newer events lie towards the end of the file, where a query starts. A
// sequential read of the whole file costs far less than faulting in even a
// fraction of its pages one at a time, which is what a scan of a file that
// is not in the page cache does otherwise.
//
// An index path reads ahead too, though the prefetcher reads its
// candidates' pages a window at a time. Measured in the bench program at
// 1,000,000 events, one user over all time (17,613 events), the first cold
// round of each run: 0.56-0.62 s with the read-ahead (the whole file read),
// 1.05 s and 2.67 s without it (55 MiB read). A cold read repeated within
// seconds is served from the disk's own cache and favours reading less
// (0.21-0.31 s without, 0.45-0.51 s with): measure the first read of data
// that was not read recently.
func (s *Store) readAhead(tx *bolt.Tx, p path, est int, q *auditevents.Query) (stop func()) {
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
