package auditevents_test

import (
	"fmt"
	"testing"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

// hashSlice is a tlog.HashReader over stored hashes in a slice.
type hashSlice []tlog.Hash

func (s hashSlice) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(s)) {
			return nil, fmt.Errorf("index %d beyond %d stored hashes", x, len(s))
		}
		out[i] = s[x]
	}
	return out, nil
}

func leafOf(i int) tlog.Hash { return tlog.RecordHash([]byte(fmt.Sprint("record ", i))) }

// TreeAppend, with batches of any size, stores exactly what tlog's own
// StoredHashes stores one record at a time: stores that call it build the
// tree that the Go checksum database's code proves and checks.
func TestTreeAppendMatchesTlog(t *testing.T) {
	const n = 300
	var want hashSlice // built by tlog, record by record
	for i := range n {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), leafOf(i), want)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, hs...)
	}
	for _, batch := range []int{1, 2, 3, 7, 64, 255, n} {
		var got hashSlice
		for i := 0; i < n; i += batch {
			var leaves []tlog.Hash
			for j := i; j < min(i+batch, n); j++ {
				leaves = append(leaves, leafOf(j))
			}
			if int64(len(got)) != tlog.StoredHashCount(int64(i)) {
				t.Fatalf("batch %d: %d hashes stored at size %d, want %d", batch, len(got), i, tlog.StoredHashCount(int64(i)))
			}
			hs, err := auditevents.TreeAppend(int64(i), leaves, got)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, hs...)
		}
		if len(got) != len(want) {
			t.Fatalf("batch %d: %d hashes, want %d", batch, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("batch %d: stored hash %d differs from tlog's", batch, i)
			}
		}
	}
}

func TestTreeAppendErrors(t *testing.T) {
	if _, err := auditevents.TreeAppend(-1, []tlog.Hash{{}}, hashSlice{}); err == nil {
		t.Error("a negative size was accepted")
	}
	// A reader that lacks the hashes the tree needs fails the append.
	if _, err := auditevents.TreeAppend(5, []tlog.Hash{{}}, hashSlice{}); err == nil {
		t.Error("an append with unreadable hashes succeeded")
	}
	short := tlog.HashReaderFunc(func([]int64) ([]tlog.Hash, error) { return nil, nil })
	if _, err := auditevents.TreeAppend(5, []tlog.Hash{{}}, short); err == nil {
		t.Error("a reader returning too few hashes was accepted")
	}
}
