package boltstore

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// The benchmarks of queries run on a store of benchEvents() events of
// storetest's Generator (seed 1), spread over a year, built once and kept in
// the temporary directory for later runs. Set AUDITEVENTS_BENCH_EVENTS to
// change its size (default 1,000,000).
//
//	go test ./store/boltstore -run '^$' -bench . -benchtime 20x

func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("AUDITEVENTS_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var (
	benchOnce   sync.Once
	benchPath   string
	benchShapes []storetest.QueryShape
	benchErr    error
)

// benchStore returns the path of the shared benchmark store, building it
// on first use, and the query shapes of the benchmark program picked from
// its events.
func benchStore(b *testing.B) (string, []storetest.QueryShape) {
	b.Helper()
	benchOnce.Do(func() {
		n := benchEvents()
		events := storetest.NewGenerator(1).Events(n)
		benchShapes = storetest.QueryShapes(events)
		// The name says what the file holds: a file of another format, or
		// of another generator's data (as older versions of this benchmark
		// kept under the name without "storetest"), is not reused.
		benchPath = filepath.Join(os.TempDir(), fmt.Sprintf("auditevents-boltstore-bench-v%d-storetest-%d.db", formatVersion, n))
		benchErr = buildFile(benchPath, events)
	})
	if benchErr != nil {
		b.Fatalf("building the benchmark store: %v", benchErr)
	}
	return benchPath, benchShapes
}

// buildFile writes a store of events, 1,000 per Append, at path, unless a
// file is there already: under another name first, renamed once complete.
func buildFile(path string, events []auditevents.AuditEvent) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".building"
	os.Remove(tmp)
	s, err := Open(tmp, &Options{NoSync: true})
	if err != nil {
		return err
	}
	for i := 0; i < len(events); i += 1000 {
		if err := s.Append(context.Background(), events[i:min(i+1000, len(events))]...); err != nil {
			s.Close()
			return err
		}
	}
	if err := s.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func reportRate(b *testing.B, events int) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkAppend(b *testing.B) {
	ctx := context.Background()
	for _, durable := range []bool{true, false} {
		name := "durable"
		if !durable {
			name = "nosync"
		}
		b.Run("single/"+name, func(b *testing.B) {
			s := openBench(b, &Options{NoSync: !durable})
			events := storetest.NewGenerator(2).Events(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Append(ctx, events[i]); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, b.N)
		})
		b.Run("batch1000/"+name, func(b *testing.B) {
			s := openBench(b, &Options{NoSync: !durable})
			events := storetest.NewGenerator(3).Events(b.N * 1000)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Append(ctx, events[i*1000:(i+1)*1000]...); err != nil {
					b.Fatal(err)
				}
			}
			reportRate(b, b.N*1000)
		})
		b.Run("concurrent64/"+name, func(b *testing.B) {
			s := openBench(b, &Options{NoSync: !durable})
			events := storetest.NewGenerator(4).Events(b.N)
			b.ReportAllocs()
			b.ResetTimer()
			appendConcurrently(b, s, events, 64)
			reportRate(b, b.N)
		})
	}
}

// appendConcurrently appends events to s one per Append from workers
// goroutines, each taking the next event not yet taken, and returns when
// they are all appended; an error fails b.
func appendConcurrently(b *testing.B, s *Store, events []auditevents.AuditEvent, workers int) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(events) {
					return
				}
				if err := s.Append(context.Background(), events[i]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkFsync is the baseline of the durable appends: one 4 KiB write
// and one sync, what a durable commit cannot do without. bbolt
// syncs twice per commit, so a single durable append costs at least two of
// these; group commit shares them among concurrent appends.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "sync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.WriteAt(page, int64(i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
}

func openBench(b *testing.B, opts *Options) *Store {
	b.Helper()
	s, err := Open(filepath.Join(b.TempDir(), "bench.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// BenchmarkQuery measures the query shapes of the benchmark program
// (storetest.QueryShapes) and a full export, each with the file in the page
// cache (warm) and without it (cold).
func BenchmarkQuery(b *testing.B) {
	path, shapes := benchStore(b)
	shapes = append(shapes, storetest.QueryShape{Name: "export", Title: "every event"})
	for _, tt := range shapes {
		for _, cold := range []bool{false, true} {
			name := tt.Name + "/warm"
			if cold {
				name = tt.Name + "/cold"
			}
			b.Run(name, func(b *testing.B) { benchQuery(b, path, nil, tt.Query, cold) })
		}
	}
}

// benchQuery runs q b.N times on the store at path opened with opts, with
// the file in the page cache (warmed by a first run) or, when cold, evicted
// from it before each run.
func benchQuery(b *testing.B, path string, opts *Options, q auditevents.Query, cold bool) {
	ctx := context.Background()
	s, err := Open(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { s.Close() }()
	if !cold { // warm the page cache
		for _, err := range s.Query(ctx, q) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	rows := 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if cold {
			b.StopTimer()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if err := dropFileCache(path); err != nil {
				b.Fatal(err)
			}
			if s, err = Open(path, opts); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		for _, err := range s.Query(ctx, q) {
			if err != nil {
				b.Fatal(err)
			}
			rows++
		}
	}
	b.ReportMetric(float64(rows)/float64(b.N), "rows/op")
	reportRate(b, rows)
}

// dropFileCache evicts the file at path from the page cache.
func dropFileCache(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return dropCache(f)
}

// BenchmarkFileSize reports the size of the benchmark store's file per
// event.
func BenchmarkFileSize(b *testing.B) {
	path, _ := benchStore(b)
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
	}
	b.ReportMetric(float64(fi.Size())/float64(benchEvents()), "bytes/event")
	b.ReportMetric(float64(fi.Size())/1e6, "MB")
}

// BenchmarkOpen measures Open and Close of the benchmark store, with the
// file in the page cache and without: Open reads the header, the branch
// pages of every bucket and the dictionary.
func BenchmarkOpen(b *testing.B) {
	path, _ := benchStore(b)
	for _, cold := range []bool{false, true} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				if cold {
					b.StopTimer()
					if err := dropFileCache(path); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				s, err := Open(path, nil)
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLedgerCost measures what the verifiable log costs ingest: the
// same batches of 1,000 events appended to a store that writes the log and
// to one that does not (Options.NoLog), in interleaved rounds so that both
// see the same machine. It reports both
// rates and their ratio (a ratio of 0.9 means the log keeps 90% of the
// rate), the same for the process's CPU time, which a machine shared with
// other work disturbs less, and the file's bytes per event of each.
func BenchmarkLedgerCost(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "nosync"
		if durable {
			name = "durable"
		}
		b.Run("batch1000/"+name, func(b *testing.B) {
			ctx := context.Background()
			with := openBench(b, &Options{NoSync: !durable})
			without := openBench(b, &Options{NoSync: !durable, NoLog: true})
			const batch, rounds = 1000, 10
			events := storetest.NewGenerator(5).Events(b.N * batch)
			var spent, cpu [2]time.Duration
			b.ResetTimer()
			for r := range rounds {
				lo, hi := b.N*r/rounds, b.N*(r+1)/rounds
				for k, s := range []*Store{without, with} {
					start, startCPU := time.Now(), cpuTime()
					for i := lo; i < hi; i++ {
						if err := s.Append(ctx, events[i*batch:(i+1)*batch]...); err != nil {
							b.Fatal(err)
						}
					}
					spent[k] += time.Since(start)
					cpu[k] += cpuTime() - startCPU
				}
			}
			b.StopTimer()
			n := float64(b.N * batch)
			b.ReportMetric(n/spent[0].Seconds(), "events/s-without-log")
			b.ReportMetric(n/spent[1].Seconds(), "events/s-with-log")
			b.ReportMetric(spent[0].Seconds()/spent[1].Seconds(), "ratio")
			b.ReportMetric(float64(cpu[0])/n, "cpu-ns/event-without-log")
			b.ReportMetric(float64(cpu[1])/n, "cpu-ns/event-with-log")
			b.ReportMetric(float64(cpu[0])/float64(cpu[1]), "cpu-ratio")
			for k, s := range []*Store{without, with} {
				size, err := HighWater(s)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(size)/n, []string{"bytes/event-without-log", "bytes/event-with-log"}[k])
			}
		})
	}
}

var (
	ledgerOnce sync.Once
	ledgerPath string
	ledgerErr  error
)

// ledgerStore returns the path of a store of benchEvents()+5 events of
// storetest's Generator (seed 3), all of account "acme", built once and kept
// in the temporary directory for later runs: the 5 make an incomplete last
// tile.
func ledgerStore(b *testing.B) (string, int) {
	b.Helper()
	n := benchEvents() + 5
	ledgerOnce.Do(func() {
		ledgerPath = filepath.Join(os.TempDir(), fmt.Sprintf("auditevents-boltstore-ledger-v%d-%d.db", formatVersion, n))
		if _, err := os.Stat(ledgerPath); err == nil {
			return
		}
		events := storetest.NewGenerator(3).Events(n)
		for i := range events {
			events[i].Account = "acme"
		}
		ledgerErr = buildFile(ledgerPath, events)
	})
	if ledgerErr != nil {
		b.Fatalf("building the ledger benchmark store: %v", ledgerErr)
	}
	return ledgerPath, n
}

// BenchmarkLedgerRead measures the reads of the verifiable log on a store
// of one account of 1,000,005 events (AUDITEVENTS_BENCH_EVENTS+5), warm: an
// inclusion proof of a sequence in a complete tile, whose leaves are
// computed from its 16 events, and of one in the last, incomplete tile,
// whose leaves are kept; one leaf of a complete tile (ReadHashes); and
// Entries, per entry, which checks each event against its leaf check.
func BenchmarkLedgerRead(b *testing.B) {
	path, n := ledgerStore(b)
	s, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	size, err := s.TreeSize(ctx, "acme")
	if err != nil || size != int64(n) {
		b.Fatalf("TreeSize = %d, %v; want %d", size, err, n)
	}
	last := size - 1
	if last%16 == 15 {
		b.Fatalf("the tree size %d leaves no incomplete tile", size)
	}
	for _, bc := range []struct {
		name string
		seq  func(i int) int64
	}{
		{"proof/complete-tile", func(i int) int64 { return int64(i*7919) % (size - 16) }},
		{"proof/last-tile", func(int) int64 { return last }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := range b.N {
				p, err := auditevents.ProveInclusion(ctx, s, "acme", bc.seq(i), size)
				if err != nil || len(p) == 0 {
					b.Fatal(p, err)
				}
			}
		})
	}
	b.Run("leaf/complete-tile", func(b *testing.B) {
		for i := range b.N {
			if _, err := s.ReadHashes(ctx, "acme", []int64{tlog.StoredHashIndex(0, int64(i*7919)%(size-16))}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("entries", func(b *testing.B) {
		const per = 100_000
		entries := 0
		for i := range b.N {
			from := int64(i*per) % (size - per)
			for e, err := range s.Entries(ctx, "acme", from) {
				if err != nil {
					b.Fatal(err)
				}
				if entries++; e.Seq >= from+per-1 {
					break
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(entries), "ns/entry")
	})
}

// BenchmarkPrefetch measures the index paths with and without the
// prefetching of prefetch.go, warm and cold, in the same run:
//
//	go test ./store/boltstore -run '^$' -bench Prefetch -benchtime 20x
func BenchmarkPrefetch(b *testing.B) {
	path, shapes := benchStore(b)
	for _, tt := range shapes {
		for _, cold := range []bool{false, true} {
			for _, off := range []bool{true, false} {
				name := tt.Name + map[bool]string{false: "/warm", true: "/cold"}[cold] + map[bool]string{false: "/prefetch", true: "/none"}[off]
				b.Run(name, func(b *testing.B) { benchQuery(b, path, &Options{noPrefetch: off}, tt.Query, cold) })
			}
		}
	}
}

// BenchmarkHotCopy measures the queries through an index with the hot
// class read from the Store's copy in memory (hot.go) and from the file,
// warm and cold, in the same run, on a copy of the benchmark store after
// 8,000 single appends of recent events, which leave the hot class nearly
// full, as a service's store has it most of the time:
//
//	go test ./store/boltstore -run '^$' -bench HotCopy -benchtime 20x
func BenchmarkHotCopy(b *testing.B) {
	path, shapes := benchStore(b)
	recent := filepath.Join(b.TempDir(), "recent.db")
	if err := copyFile(recent, path); err != nil {
		b.Fatal(err)
	}
	s, err := Open(recent, &Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	g := storetest.NewGenerator(1)
	g.Events(benchEvents()) // the benchmark store's events: what follows is after them
	sealed := func() (through int64) {
		if err := s.view(func(tx *bolt.Tx) (err error) { through, err = sealedTime(tx); return err }); err != nil {
			b.Fatal(err)
		}
		return through
	}
	// Up to the next seal, which empties the hot class, then 8,000 more.
	before, after := sealed(), 0
	for _, e := range g.After(defaultSealAfter + 8000) {
		if err := s.Append(context.Background(), e); err != nil {
			b.Fatal(err)
		}
		if after > 0 || sealed() != before {
			if after++; after == 8000 {
				break
			}
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, tt := range shapes {
		if tt.Query.User == "" && tt.Query.Configuration == "" && tt.Query.Account == nil {
			continue // the events bucket's own path: no hot class to read
		}
		for _, cold := range []bool{false, true} {
			for _, off := range []bool{true, false} {
				name := tt.Name + map[bool]string{false: "/warm", true: "/cold"}[cold] + map[bool]string{false: "/memory", true: "/file"}[off]
				b.Run(name, func(b *testing.B) { benchQuery(b, recent, &Options{noHotCopy: off}, tt.Query, cold) })
			}
		}
	}
}

// copyFile copies the file at src to dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
