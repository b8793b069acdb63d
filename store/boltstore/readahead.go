package boltstore

import (
	"slices"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// readAheadFraction: a query expected to touch at least 1/readAheadFraction
// of the file's pages reads ahead.
const readAheadFraction = 8

// readAheadChunk bounds each read of the read-ahead.
const readAheadChunk = 4 << 20

// readAheadGap: leaves of the events bucket at most readAheadGap pages
// apart in the file are read by one read, with the pages between them.
const readAheadGap = 16

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

// readAhead starts reading into the page cache what a query on path p with
// est candidates reads, when it is expected to touch a large part of the
// file; it returns a function that stops it. A few large sequential reads
// cost far less than faulting in even a fraction of those pages one at a
// time, which is what a scan of a file that is not in the page cache does
// otherwise.
//
// It reads the events bucket's leaves that hold the query's time range,
// found from the branch pages above them, in file order, from the file's
// end backwards (newer events lie towards the end, where a query starts):
// leaves at most readAheadGap pages apart as one read. They are about a
// quarter of the file; the rest is indexes, the log and free pages, which
// such a query reads little of.
//
// Measured at 1,000,000 events, one user over all time (17,613 events),
// cold. In the bench program: 0.56-0.62 s reading the whole file ahead, as
// this did before (0.69x the best SQLite's latency); 1.05 s and 2.67 s in
// the first cold round of two runs without a read-ahead (55 MiB read a
// window of candidates at a time). Reading the leaves, and asking for the
// index path's too, as a first version did: 148-230 ms in most rounds, 422
// and 789 ms in the first rounds of two runs (about 90 MiB from the disk;
// 0.25x, 0.40x and 0.61x over three runs). As it is now: 172-179 ms in the
// three rounds of one run (0.24x). A disk that has not served the data
// lately answers a large read far faster than many small ones: on copies of
// the file not read since 24 GiB were written after them, reading the leaves
// took 0.91, 0.94 and 2.57 s, the whole file 1.38, 1.63 and 3.66 s; on files
// not read for hours, 55 MiB a window at a time took 4.0 s and 4.5 s, the
// whole file 0.66 s and 2.3 s.
//
// Alternatives measured on those cold copies, and on a file the disk had
// served lately (three to eight runs each, where reading the leaves took
// 181-223 ms and the whole file 280-570 ms): asking the kernel also for the
// leaves of the index path, all at once (0.99, 2.03 and 2.73 s cold;
// 182-212 ms: no gain); two readers at once (2.5 s, one copy; 209-218 ms);
// asking for every run at once with POSIX_FADV_WILLNEED (2.7 s; 239-395
// ms); gaps of 64 pages (4.5 s; 267-286 ms); gaps of 4 pages (176-197 ms;
// cold, six runs alternated with six of gaps of 16 pages over six copies
// made cold twice: 0.77-1.84 s against 0.98-2.04 s, no difference).
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
	pr := newPageReader(tx, s.file)
	b := queryBounds(q)
	var stopped atomic.Bool
	addr := tx.DB().Info().Data
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		// Skip what is in the page cache already: when all of it is, the
		// read-ahead costs a look at the kernel's tables and nothing more.
		// The goroutine may outlive the transaction: what it reads of the
		// file is a hint, checked by nothing but the page headers.
		in := resident(addr, size, int(pageSize))
		if in != nil && allResident(in) {
			return
		}
		leaves := pr.leaves(b.lo, b.hi)
		slices.Sort(leaves)
		var buf []byte
		for i := len(leaves) - 1; i >= 0 && !stopped.Load() && !s.closing(); {
			// The run of leaves [start, end) that one read covers.
			start, end := leaves[i], leaves[i]+1
			for i--; i >= 0 && leaves[i]+readAheadGap >= start && (end-leaves[i])*uint64(pageSize) <= readAheadChunk; i-- {
				start = leaves[i]
			}
			if in != nil && end <= uint64(len(in)) && allResident(in[start:end]) {
				continue
			}
			if buf == nil {
				buf = make([]byte, readAheadChunk)
			}
			if _, err := s.file.ReadAt(buf[:int64(end-start)*pageSize], int64(start)*pageSize); err != nil {
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
