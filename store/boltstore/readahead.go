package boltstore

import (
	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// readAheadFraction: a query expected to touch at least this fraction of
// the file's pages reads the whole file ahead, sequentially.
const readAheadFraction = 8

// readAhead asks the kernel to read the whole file into the page cache, in
// the background, when the query on path p with est candidates is expected
// to touch a large part of the file. bbolt maps its file for random access,
// so without it a scan of a file that is not in the page cache faults one
// page at a time; a sequential read of the whole file is many times faster
// than faulting in a fraction of its pages at random.
func (s *Store) readAhead(tx *bolt.Tx, p path, est int, q *auditevents.Query) {
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
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		willNeed(s.file, size)
	}()
}

// averageValueBytes is a typical event's share of the events bucket: its
// value, key and bbolt's element header.
const averageValueBytes = 160
