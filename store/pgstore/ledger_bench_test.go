package pgstore

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// BenchmarkLedgerAppend measures what the verifiable log adds to Append, in
// three variants timed in turns, batch by batch, each first in turn, on one
// connection each, so that the load of a shared machine falls on all alike:
//
//   - before: the Append of the release before the log (the same
//     validation, then BEGIN, the INSERT and COMMIT) on a table it made;
//   - sequence: sequences without the tree: Append's round trips with the
//     tree's work taken out (appendWithoutTree), on a table of this release;
//   - ledger: the store's Append, sequences and tree.
//
// Reported for each: events a second, and the CPU time per event of the
// server's backend (read from /proc, at the kernel's 10ms tick, when the
// server runs on this machine); and the ingest ratios ledger/sequence (what
// the tree costs) and ledger/before (what the whole log costs).
// BenchmarkLedgerGrow measures the tree's CPU time in this process, which
// timing each call here cannot tell apart from the garbage collection of
// the other variants' allocations.
func BenchmarkLedgerAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			dsn, _ := testServer(b)
			ctx := context.Background()
			single := dsn + sep(dsn) + "pool_max_conns=1"
			open := func() *Store {
				s, err := Open(ctx, single, &Options{Schema: freshSchema(b)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { s.Close() })
				return s
			}
			s, seqOnly := open(), open()
			if _, err := seqOnly.pool.Exec(ctx, seqOnly.sql.log.addHead, "acme"); err != nil {
				b.Fatal(err)
			}
			old := oldSchema(b)
			oldPool, err := pgxpool.New(ctx, single)
			if err != nil {
				b.Fatal(err)
			}
			defer oldPool.Close()
			variants := []struct {
				name   string
				pool   *pgxpool.Pool
				append func([]auditevents.AuditEvent) error
			}{
				{"before", oldPool, func(events []auditevents.AuditEvent) error {
					prepared, err := auditevents.PrepareBatch(events)
					if err != nil {
						return err
					}
					return pgx.BeginFunc(ctx, oldPool, func(tx pgx.Tx) error {
						_, err := tx.Exec(ctx, oldInsert(old), newColumns(prepared).args()[:10]...)
						return err
					})
				}},
				{"sequence", seqOnly.pool, func(events []auditevents.AuditEvent) error {
					prepared, err := auditevents.PrepareBatch(events)
					if err != nil {
						return err
					}
					return seqOnly.appendWithoutTree(ctx, newColumns(prepared))
				}},
				{"ledger", s.pool, func(events []auditevents.AuditEvent) error { return s.Append(ctx, events...) }},
			}
			wall := make([]time.Duration, len(variants))
			server := make([]time.Duration, len(variants))
			pids := make([]int, len(variants))
			for k, v := range variants {
				pids[k] = backendPID(b, v.pool)
				server[k] = -serverCPU(pids[k])
			}
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				batch := accountEvents(uint64(i)+1, base.Add(time.Duration(i)*time.Second), size, "acme")
				b.StartTimer()
				for j := range variants {
					k := (i + j) % len(variants) // each first in turn
					v := variants[k]
					t0 := time.Now()
					if err := v.append(batch); err != nil {
						b.Fatal(err)
					}
					wall[k] += time.Since(t0)
				}
			}
			b.StopTimer()
			n := float64(b.N * size)
			for k, v := range variants {
				b.ReportMetric(n/wall[k].Seconds(), v.name+"-events/s")
				if server[k] += serverCPU(pids[k]); server[k] >= 0 {
					b.ReportMetric(float64(server[k].Nanoseconds())/n, v.name+"-server-cpu-ns/event")
				}
			}
			b.ReportMetric(wall[1].Seconds()/wall[2].Seconds(), "ledger/sequence-ratio")
			b.ReportMetric(wall[0].Seconds()/wall[2].Seconds(), "ledger/before-ratio")
		})
	}
}

// BenchmarkLedgerGrow measures the CPU time the tree adds to an append in
// this process, per event, without a server: the leaves' encoding and hash,
// TreeAppend, the tiles' bytes and the new right edge, for a batch appended
// to a tree of a million events. cpu-ns/event is this process's CPU time,
// which a loaded machine inflates less than the wall time of ns/event.
func BenchmarkLedgerGrow(b *testing.B) {
	for _, size := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			prepared, err := auditevents.PrepareBatch(accountEvents(1, base, size, "acme"))
			if err != nil {
				b.Fatal(err)
			}
			// The right edge of a tree of n leaves: random bytes (the
			// hashes' values do not change the work).
			const n = 1_000_003
			frontier := make([]byte, bits.OnesCount64(n)*32)
			partial := make([]byte, n%tileWidth*32)
			c0 := processCPU()
			b.ResetTimer()
			for range b.N {
				g := growths(prepared)[0]
				g.size, g.frontier, g.partial = n, frontier, partial
				var w tileWrites
				if err := g.grow(&w); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/event")
			b.ReportMetric(float64((processCPU()-c0).Nanoseconds())/float64(b.N*size), "cpu-ns/event")
		})
	}
}

// appendWithoutTree is Append, for a batch of one account whose head row
// exists, without the tree: the same three round trips and statements
// (BEGIN and the head row's lock; the INSERT and writeLog, which writes the
// head's new size and its right edge and leaf tile as they were; COMMIT).
func (s *Store) appendWithoutTree(ctx context.Context, cols *columns) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	account := cols.account[0]
	var n int64
	var frontier, partial []byte
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue(s.sql.log.lock, account).QueryRow(func(row pgx.Row) error { return row.Scan(&n, &frontier, &partial) })
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	for i := range cols.seq {
		cols.seq[i] = n + int64(i)
	}
	b = &pgx.Batch{}
	b.Queue(s.sql.insert, cols.args()...)
	w := tileWrites{headAccount: []string{account}, headSize: []int64{n + int64(len(cols.seq))}, headFrontier: [][]byte{frontier}, headPartial: [][]byte{partial}}
	b.Queue(s.sql.log.writeLog, w.args()...)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "COMMIT")
	return err
}

// backendPID returns the process ID of the server backend of a pool of one
// connection.
func backendPID(tb testing.TB, pool *pgxpool.Pool) int {
	tb.Helper()
	var pid int
	if err := pool.QueryRow(context.Background(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		tb.Fatal(err)
	}
	return pid
}

// processCPU returns the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverCPU returns the user and system CPU time a backend of a server on
// this machine has used, read from /proc, at the kernel's clock tick of
// 10ms; a large negative duration when it cannot be read.
func serverCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1 << 62
	}
	// Fields after the command, which ends with the last ")": state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return -1 << 62
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkLedgerStorage appends -pgstore.events events and reports the
// disk space the verifiable log takes per event, after a VACUUM: the tree's
// tiles with their index; the head rows and pruned runs, whose size does not
// grow with the log but, between vacuums, with the row versions that
// appends leave; the sequence index; and the growth of the events' heap by
// the sequence column, against a table of the release before it holding the
// same events. Single appends store a tenth as many events.
func BenchmarkLedgerStorage(b *testing.B) {
	for _, size := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			n := *benchEvents
			if size == 1 {
				n /= 10
			}
			ctx := context.Background()
			for range b.N {
				s := openStore(b, Options{})
				old := oldSchema(b)
				for i := 0; i < n; i += size {
					batch := events(uint64(i)+1, base.Add(time.Duration(i)*time.Millisecond), min(size, n-i))
					if err := s.Append(ctx, batch...); err != nil {
						b.Fatal(err)
					}
					prepared, err := auditevents.PrepareBatch(batch)
					if err != nil {
						b.Fatal(err)
					}
					if _, err := old.pool.Exec(ctx, oldInsert(old), newColumns(prepared).args()[:10]...); err != nil {
						b.Fatal(err)
					}
				}
				// Dead row versions, which tiles extended by single appends
				// leave, are space autovacuum reclaims.
				for _, sql := range []string{"VACUUM " + s.sql.table + ", " + s.sql.log.tree + ", " + s.sql.log.heads, "VACUUM " + old.sql.table} {
					if _, err := s.pool.Exec(ctx, sql); err != nil {
						b.Fatal(err)
					}
				}
				size := func(s *Store, sql string) float64 {
					var bytes int64
					if err := s.pool.QueryRow(ctx, sql).Scan(&bytes); err != nil {
						b.Fatal(err)
					}
					return float64(bytes) / float64(n)
				}
				rel := func(name string) string {
					return "pg_total_relation_size('" + strings.ReplaceAll(name, "'", "''") + "')"
				}
				b.ReportMetric(size(s, "SELECT "+rel(s.sql.log.tree)), "tree-bytes/event")
				b.ReportMetric(size(s, "SELECT "+rel(s.sql.log.heads)+" + "+rel(s.sql.log.pruned)), "heads-bytes/event")
				b.ReportMetric(size(s, "SELECT pg_relation_size('"+s.opt.Schema+"."+s.opt.Table+"_seq_idx')"), "seq-index-bytes/event")
				heap := "SELECT pg_relation_size('" + s.opt.Schema + "." + s.opt.Table + "')"
				b.ReportMetric(size(s, heap)-size(old, heap), "seq-heap-bytes/event")
			}
		})
	}
}

// BenchmarkLedgerMigrate measures the upgrade of a table of -pgstore.events
// events made by the release before the log: the Open that gives them
// sequences and builds their trees.
func BenchmarkLedgerMigrate(b *testing.B) {
	dsn, _ := testServer(b)
	ctx := context.Background()
	n := *benchEvents
	for range b.N {
		b.StopTimer()
		old := oldSchema(b)
		for i := 0; i < n; i += 5000 {
			prepared, err := auditevents.PrepareBatch(events(uint64(i)+1, base.Add(time.Duration(i)*time.Millisecond), min(5000, n-i)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := old.pool.Exec(ctx, oldInsert(old), newColumns(prepared).args()[:10]...); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		s, err := Open(ctx, dsn, &Options{Schema: old.opt.Schema})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
}
