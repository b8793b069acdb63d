package boltstore

import (
	"bytes"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// TestReadAheadReadsTheRange checks that the read-ahead of a query through
// the user index reads every leaf of the events bucket that holds the
// query's time range into the page cache, from a file dropped from it.
func TestReadAheadReadsTheRange(t *testing.T) {
	if !canAdvise {
		t.Skip("cannot tell what is in the page cache on this system")
	}
	s, events := storeOf(t, 11, 20000)
	path := s.db.Path()
	q := auditevents.Query{User: events[len(events)/2].User, Since: events[4000].Timestamp, Before: events[16000].Timestamp}
	b := queryBounds(&q)
	var want []uint64 // the leaves holding the events of the range
	pages := func(tx *bolt.Tx) []byte {
		info := tx.DB().Info()
		in := resident(info.Data, tx.Size(), info.PageSize)
		if in == nil {
			t.Fatal("mincore cannot tell which pages of the file are in the page cache")
		}
		return in
	}
	if err := s.view(func(tx *bolt.Tx) error {
		info := tx.DB().Info()
		c := tx.Bucket(bucketEvents).Cursor()
		for k, _ := c.Seek(b.lo); k != nil && bytes.Compare(k, b.hi) < 0; k, _ = c.Next() {
			page := mappedPage(info, k)
			if len(want) == 0 || want[len(want)-1] != page {
				want = append(want, page)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(want) < 100 {
		t.Fatalf("the range lies on %d leaves, want at least 100", len(want))
	}
	s.Close()
	if err := dropFileCache(path); err != nil {
		t.Fatal(err)
	}
	s = openInternal(t, path, nil)
	err := s.view(func(tx *bolt.Tx) error {
		in, cached := pages(tx), 0
		for _, id := range want {
			cached += int(in[id] & 1)
		}
		if cached > len(want)/2 {
			t.Skipf("%d of the range's %d leaves are in the page cache after dropping the file from it", cached, len(want))
		}
		p, _, _, err := s.plan(tx, &q, b)
		if err != nil {
			return err
		}
		if p.kind != byUser {
			t.Fatalf("the query reads index %d, want the user index", p.kind)
		}
		s.readAhead(tx, p, 1<<30, &q)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.bg.Wait() // the read-ahead, the only goroutine of a store without retention
	err = s.view(func(tx *bolt.Tx) error {
		in := pages(tx)
		for _, id := range want {
			if in[id]&1 == 0 {
				t.Errorf("leaf %d of the range is not in the page cache after the read-ahead", id)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
