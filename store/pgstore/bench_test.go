package pgstore

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
	"github.com/jackc/pgx/v5"
)

// benchEvents is how many events the query and prune benchmarks store first:
// go test -bench . -args -pgstore.events=3000000
var benchEvents = flag.Int("pgstore.events", 100_000, "events stored before the query and prune benchmarks")

// fill appends n events, in batches of 5000, one millisecond apart from
// start.
func fill(tb testing.TB, s *Store, seed uint64, start time.Time, n int) {
	tb.Helper()
	const batch = 5000
	for i := 0; i < n; i += batch {
		batch := events(seed+uint64(i), start.Add(time.Duration(i)*time.Millisecond), min(batch, n-i))
		if err := s.Append(context.Background(), batch...); err != nil {
			tb.Fatalf("fill: %v", err)
		}
	}
}

// BenchmarkAppend measures Append by batch size against the baseline of the
// same rows sent with COPY, without validation, outside a transaction: the
// fastest way into the same table and indexes.
func BenchmarkAppend(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		for _, how := range []string{"store", "copy-baseline"} {
			b.Run(fmt.Sprintf("batch=%d/%s", size, how), func(b *testing.B) {
				s := openStore(b, Options{})
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					b.StopTimer()
					batch := events(uint64(i)+1, base.Add(time.Duration(i)*time.Second), size)
					b.StartTimer()
					var err error
					if how == "store" {
						err = s.Append(ctx, batch...)
					} else {
						err = copyRows(ctx, s, batch)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

func copyRows(ctx context.Context, s *Store, batch []auditevents.AuditEvent) error {
	rows := make([][]any, len(batch))
	for i, e := range batch {
		e = auditevents.Normalize(e)
		name, _ := auditevents.SplitConfiguration(e.Configuration)
		rows[i] = []any{e.ID, e.Timestamp, e.Account, e.User, string(e.Action), string(e.ResourceKind), e.ResourceName, e.Configuration, name, e.Description}
	}
	_, err := s.pool.CopyFrom(ctx, pgx.Identifier{s.opt.Schema, s.opt.Table},
		[]string{"id", "ts", "account", "user_name", "action", "resource_kind", "resource_name", "configuration", "configuration_name", "description"},
		pgx.CopyFromRows(rows))
	return err
}

// BenchmarkQuery measures query shapes on a table of -pgstore.events events:
// pages of 100 by each index, a page deep into the trail by cursor, and
// streaming every event. The baseline is the same newest-100 page read with
// a plain pgx query, to show what the store adds.
func BenchmarkQuery(b *testing.B) {
	s := openStore(b, Options{})
	n := *benchEvents
	fill(b, s, 1, base, n)
	if _, err := s.pool.Exec(context.Background(), "ANALYZE "+s.sql.table); err != nil {
		b.Fatal(err)
	}
	mid := base.Add(time.Duration(n/2) * time.Millisecond)
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"newest-100", auditevents.Query{Limit: 100}},
		{"user-100", auditevents.Query{User: "user3@example.com", Limit: 100}},
		{"configuration-100", auditevents.Query{Configuration: "config-2", Limit: 100}},
		{"account-user-100", auditevents.Query{User: "user3@example.com", Limit: 100}.InAccount("acme")},
		{"date-range-100", auditevents.Query{Since: mid.Add(-time.Minute), Before: mid, Limit: 100}},
		{"cursor-mid-100", auditevents.Query{After: auditevents.Cursor{Timestamp: mid, ID: "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"}, Limit: 100}},
		{"stream-all", auditevents.Query{}},
	}
	ctx := context.Background()
	b.Run("newest-100/raw-baseline", func(b *testing.B) {
		b.ReportAllocs()
		sql := "SELECT " + eventColumns + " FROM " + s.sql.table + " ORDER BY ts DESC, id DESC LIMIT 100"
		got := 0
		for b.Loop() {
			rows, err := s.pool.Query(ctx, sql)
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
				var e auditevents.AuditEvent
				var a actorColumns
				if err := rows.Scan(a.dests(&e)...); err != nil {
					b.Fatal(err)
				}
				got++
			}
			if err := rows.Err(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "events/s")
	})
	for _, tt := range tests {
		b.Run(tt.name+"/store", func(b *testing.B) {
			b.ReportAllocs()
			got := 0
			for b.Loop() {
				for _, err := range s.Query(ctx, tt.q) {
					if err != nil {
						b.Fatal(err)
					}
					got++
				}
			}
			if got == 0 {
				b.Fatal("the query matched nothing")
			}
			b.ReportMetric(float64(got)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkPrune measures deleting -pgstore.events events, all older than
// the cut, in batches of Options.PruneBatchSize, from a table that holds as
// many newer events.
func BenchmarkPrune(b *testing.B) {
	n := *benchEvents
	for _, batch := range []int{1000, DefaultPruneBatchSize} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s := openStore(b, Options{PruneBatchSize: batch})
			fill(b, s, 1<<40, base, n) // the newer events, which stay
			deleted := 0
			for i := range b.N {
				b.StopTimer()
				fill(b, s, uint64(i+1)<<32, base.Add(-time.Duration(i+1)*24*time.Hour), n)
				b.StartTimer()
				got, err := s.Prune(context.Background(), base)
				if err != nil {
					b.Fatal(err)
				}
				deleted += got
			}
			b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkStore measures the standard workloads of storetest.RunBenchmarks,
// the same that every store of this module and a third party's store run.
func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(tb testing.TB) auditevents.Store { return openStore(tb, Options{}) })
}

// actorFill appends n events that all came from requests, in batches of
// 5000, one millisecond apart from start: each has a request ID shared by
// the one to three events of its request, an address of 2,000 clients in
// 40 IPv4 networks (one in ten an IPv6 address of 200) and a user agent of
// 20. It returns the events.
func actorFill(tb testing.TB, s *Store, start time.Time, n int) []auditevents.AuditEvent {
	tb.Helper()
	requests := storetest.NewRequests(1)
	var all []auditevents.AuditEvent
	const batch = 5000
	for i := 0; i < n; i += batch {
		events := requests.Fill(events(uint64(i)+1, start.Add(time.Duration(i)*time.Millisecond), min(batch, n-i)))
		if err := s.Append(context.Background(), events...); err != nil {
			tb.Fatalf("fill: %v", err)
		}
		all = append(all, events...)
	}
	return all
}

// BenchmarkActorQuery measures the actor filters on a table of
// -pgstore.events events that all came from requests, warm: a request ID,
// one address and a /24 network, first with the partial indexes of
// migration 4 ("index"), then with them dropped ("no-index"), which leaves
// the planner the time index and a filter on every row it reads.
func BenchmarkActorQuery(b *testing.B) {
	s := openStore(b, Options{})
	ctx := context.Background()
	all := actorFill(b, s, base, *benchEvents)
	mid := all[len(all)/2]
	addr := netip.MustParseAddr(mid.IPAddress)
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"request-id", auditevents.Query{RequestID: mid.RequestID}},
		{"ip-address", auditevents.Query{IPAddress: netip.PrefixFrom(addr, addr.BitLen())}},
		{"ip-network-24", auditevents.Query{IPAddress: netip.MustParsePrefix("10.1.12.0/24")}},
	}
	for _, how := range []string{"index", "no-index"} {
		if how == "no-index" {
			for _, idx := range []string{"request_id_idx", "ip_address_idx"} {
				if _, err := s.pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{s.opt.Schema, s.opt.Table + "_" + idx}.Sanitize()); err != nil {
					b.Fatal(err)
				}
			}
		}
		if _, err := s.pool.Exec(ctx, "ANALYZE "+s.sql.table); err != nil {
			b.Fatal(err)
		}
		for _, tt := range tests {
			b.Run(tt.name+"/"+how, func(b *testing.B) {
				got := 0
				for b.Loop() {
					for _, err := range s.Query(ctx, tt.q) {
						if err != nil {
							b.Fatal(err)
						}
						got++
					}
				}
				if got == 0 {
					b.Fatal("the query matched nothing")
				}
				b.ReportMetric(float64(got)/float64(b.N), "rows/op")
			})
		}
	}
}

// BenchmarkActorSize reports what the actor fields and their indexes cost
// the table, per event, on -pgstore.events events with them against as
// many without: the table with its TOAST, and the partial indexes.
func BenchmarkActorSize(b *testing.B) {
	ctx := context.Background()
	n := *benchEvents
	with := openStore(b, Options{})
	actorFill(b, with, base, n)
	without := openStore(b, Options{})
	fill(b, without, 1, base, n)
	for range b.N {
	}
	for _, st := range []struct {
		name string
		s    *Store
	}{{"with", with}, {"without", without}} {
		var table, indexes int64
		err := st.s.pool.QueryRow(ctx, "SELECT pg_table_size($1::regclass), pg_indexes_size($1::regclass)", st.s.sql.table).Scan(&table, &indexes)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(table)/float64(n), "table-bytes/event-"+st.name)
		b.ReportMetric(float64(indexes)/float64(n), "index-bytes/event-"+st.name)
	}
}
