package auditevents_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

// benchLog returns a log of n realistic events of one account and a checkpoint of it.
func benchLog(b *testing.B, n int) (*fakeLog, []byte, auditevents.VerifyOptions) {
	b.Helper()
	events := testEvents(n, "acme")
	for i := range events {
		events[i].User = fmt.Sprintf("user-%02d@example.com", i%50)
		events[i].Description = "Configuration modified"
	}
	f := &fakeLog{}
	for i := 0; i < n; i += 1000 {
		f.add(b, events[i:min(i+1000, n)]...)
	}
	signer, verifier := testKeys(b)
	cp := f.checkpoint(b, signer)
	return f, cp, auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}
}

// BenchmarkVerify measures Verify over an in-memory log: the cost of
// recomputing every leaf and the root, without a store's reads. Reported as
// ns per event; at 1,000,000 events the total is the time of one op.
func BenchmarkVerify(b *testing.B) {
	for _, n := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			f, _, opts := benchLog(b, n)
			b.ResetTimer()
			for range b.N {
				if _, err := auditevents.Verify(context.Background(), f, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkTreeCost measures what the tree adds to an append, per event:
// the leaf's encoding and hash, and the stored hashes of TreeAppend, for
// single appends and batches of 100.
func BenchmarkTreeCost(b *testing.B) {
	e := sample()
	e.Timestamp = time.Now()
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var stored hashSlice
			leaves := make([]tlog.Hash, batch)
			bytes := 0
			b.ResetTimer()
			for i := 0; i < b.N; i += batch {
				n := int64(i)
				for j := range leaves {
					leaves[j] = auditevents.LeafHash(n+int64(j), &e)
				}
				hs, err := auditevents.TreeAppend(n, leaves, stored)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(hs) * tlog.HashSize
				stored = append(stored, hs...)
			}
			b.ReportMetric(float64(bytes)/float64(b.N), "hash-bytes/event")
		})
	}
}
