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
			cpu := cpuTime()
			for range b.N {
				if _, err := auditevents.Verify(context.Background(), f, opts); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu, b.N*n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
		})
	}
}

// BenchmarkTreeCost measures what the tree adds to an append, per event:
// the leaf's encoding and hash, and the stored hashes of TreeAppend, for
// single appends and batches of 100, with the stored hashes in memory (a
// store adds its own writes). The baseline is one SHA-256 of the event's
// encoding, the least any leaf costs, measured in the same run.
func BenchmarkTreeCost(b *testing.B) {
	e := sample()
	e.Timestamp = time.Now()
	b.Run("baseline=sha256-of-leaf", func(b *testing.B) {
		enc := auditevents.AppendLeaf(nil, 1, &e)
		cpu := cpuTime()
		for range b.N {
			tlog.RecordHash(enc)
		}
		reportCPU(b, cpu, b.N)
	})
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			stored := make(hashSlice, 0, 2*b.N+64)
			buf := make([]tlog.Hash, 64)
			read := tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
				for i, x := range indexes {
					buf[i] = stored[x]
				}
				return buf[:len(indexes)], nil
			})
			leaves := make([]tlog.Hash, batch)
			b.ResetTimer()
			cpu := cpuTime()
			for i := 0; i < b.N; i += batch {
				n := int64(i)
				for j := range leaves {
					leaves[j] = auditevents.LeafHash(n+int64(j), &e)
				}
				hs, err := auditevents.TreeAppend(n, leaves, read)
				if err != nil {
					b.Fatal(err)
				}
				stored = append(stored, hs...)
			}
			reportCPU(b, cpu, b.N)
			b.ReportMetric(float64(len(stored)*tlog.HashSize)/float64(b.N), "hash-bytes/event")
		})
	}
}

// reportCPU reports the CPU time used since cpu per event, which on a
// shared machine says more than the wall time per op.
func reportCPU(b *testing.B, cpu time.Duration, events int) {
	b.ReportMetric(float64(cpuTime()-cpu)/float64(events), "cpu-ns/event")
}
