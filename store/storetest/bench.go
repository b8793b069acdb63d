package storetest

import (
	"context"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// BenchmarkEvents is how many events the store of the query and export
// benchmarks of [RunBenchmarks] holds: a year of a busy install's audit
// trail, made by a [Generator] with seed 1.
const BenchmarkEvents = 100_000

// benchmark is one workload of RunBenchmarks. A workload either makes its
// own store (append workloads, which need an empty one) or reads the shared
// store of BenchmarkEvents events that data returns.
type benchmark struct {
	name string
	run  func(b *testing.B, newStore NewStore, data func() *fixture)
}

// fixture is the store the read workloads share, and its query shapes.
type fixture struct {
	store  auditevents.Store
	shapes []QueryShape
}

// benchmarks are the workloads RunBenchmarks measures, in order. A new
// capability of the Store contract adds its workloads here, in a file of its
// own.
var benchmarks = []benchmark{
	{"Append/batch=1", func(b *testing.B, newStore NewStore, _ func() *fixture) { benchAppend(b, newStore, 1) }},
	{"Append/batch=100", func(b *testing.B, newStore NewStore, _ func() *fixture) { benchAppend(b, newStore, 100) }},
	{"Append/batch=1000", func(b *testing.B, newStore NewStore, _ func() *fixture) { benchAppend(b, newStore, 1000) }},
	{"AppendConcurrent", func(b *testing.B, newStore NewStore, _ func() *fixture) { benchAppendConcurrent(b, newStore) }},
	{"Query", func(b *testing.B, _ NewStore, data func() *fixture) { benchQueries(b, data) }},
	{"Export", func(b *testing.B, _ NewStore, data func() *fixture) { benchExport(b, data) }},
}

// RunBenchmarks measures stores made by newStore on the standard workloads,
// those of this module's benchmark program in the form of Go benchmarks:
//
//   - Append/batch=N: appending batches of N = 1, 100 and 1000 events to an
//     empty store, one batch after another; reports events/s. The
//     program's single-event appends and its batched ingest are batch=1 and
//     batch=1000.
//   - AppendConcurrent: single-event appends from GOMAXPROCS goroutines at
//     once (the -cpu flag sets it; the program uses 64 goroutines), as the
//     handlers of a busy host make them, each Append returning once its
//     event is stored; reports events/s. A store that commits concurrent
//     appends together shows it here.
//   - Query/<name>: each shape of [QueryShapes] on a store of
//     [BenchmarkEvents] events; reports the events each query returns.
//   - Export: every event of that store through the CSV writer
//     ([auditevents.WriteCSV]); reports events/s.
//
// A third party's store compares itself with this module's in three lines:
//
//	func BenchmarkStore(b *testing.B) {
//		storetest.RunBenchmarks(b, func(tb testing.TB) auditevents.Store { return mystore.New() })
//	}
//
// The store of the query benchmarks is made and filled once, on first use,
// and closed when RunBenchmarks returns.
func RunBenchmarks(b *testing.B, newStore NewStore) {
	b.Helper()
	var shared *fixture
	data := func() *fixture {
		if shared == nil {
			events := NewGenerator(1).Events(BenchmarkEvents)
			shared = &fixture{store: newStore(b), shapes: QueryShapes(events)}
			for i := 0; i < len(events); i += 1000 {
				if err := shared.store.Append(context.Background(), events[i:min(i+1000, len(events))]...); err != nil {
					b.Fatalf("filling the store: %v", err)
				}
			}
		}
		return shared
	}
	defer func() {
		if shared != nil {
			shared.store.Close()
		}
	}()
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) { bm.run(b, newStore, data) })
	}
}

func benchAppend(b *testing.B, newStore NewStore, batch int) {
	s := newStore(b)
	defer s.Close()
	events := NewGenerator(2).After(b.N * batch)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := s.Append(ctx, events[i*batch:(i+1)*batch]...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

func benchAppendConcurrent(b *testing.B, newStore NewStore) {
	s := newStore(b)
	defer s.Close()
	// Events are made before the clock starts, enough for any b.N: each
	// goroutine takes the next one by index.
	events := NewGenerator(3).After(b.N)
	var next atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := events[next.Add(1)-1]
			if err := s.Append(ctx, e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// QueryShape is one shape of query that the benchmarks measure, as
// [QueryShapes] makes it.
type QueryShape struct {
	// Name names the shape in benchmark names: [RunBenchmarks] reports it
	// as Query/<Name>, the benchmark program as query:<Name>.
	Name string
	// Title says in a few words what the query asks for, for reports.
	Title string
	// Query is the query, its parameters picked from the data.
	Query auditevents.Query
}

// QueryShapes returns the query shapes that [RunBenchmarks] and this
// module's benchmark program measure, so that both measure the same
// queries. Their parameters are picked from events, which must be in
// timestamp order, oldest first, as [Generator.Events] returns them; mid
// is the event at the middle of events:
//
//   - day: the 183rd day of the year a [Generator] fills (from
//     [GeneratorStart]).
//   - user: every event of mid's user.
//   - user+config: mid's user and the configuration (by name) that the
//     user last touched at or before mid, over the 30 days that end at
//     midnight after that event.
//   - config: a configuration by name, every version: the first event with
//     a versioned configuration from a third of events on.
//   - config-version: the same configuration in that event's version.
//   - account-week: the account "globex" over the 7 days that end where
//     user+config ends.
//   - page-first: the newest 100 events.
//   - page-deep: the 100 events that follow mid in the result order
//     (older ones), by cursor.
//
// It returns nil when events is empty.
func QueryShapes(events []auditevents.AuditEvent) []QueryShape {
	if len(events) == 0 {
		return nil
	}
	mid := events[len(events)/2]
	user := mid.User
	day := GeneratorStart.AddDate(0, 0, 182)
	// The configuration the user last touched at or before mid, and the
	// 30 days that end the day after.
	userConfig, monthEnd := "", mid.Timestamp
	for i := len(events) / 2; i >= 0 && userConfig == ""; i-- {
		if e := &events[i]; e.User == user && e.Configuration != "" {
			userConfig, _ = cutVersion(e.Configuration)
			monthEnd = e.Timestamp.Truncate(24*time.Hour).AddDate(0, 0, 1)
		}
	}
	monthStart := monthEnd.AddDate(0, 0, -30)
	var configName, configVersion string
	for i := len(events) / 3; i < len(events) && configVersion == ""; i++ {
		if name, versioned := cutVersion(events[i].Configuration); versioned {
			configName, configVersion = name, events[i].Configuration
		}
	}
	globex := "globex"
	return []QueryShape{
		{"day", "one day's range", auditevents.Query{Since: day, Before: day.AddDate(0, 0, 1)}},
		{"user", "one user over all time", auditevents.Query{User: user}},
		{"user+config", "user + configuration over 30 days", auditevents.Query{User: user, Configuration: userConfig, Since: monthStart, Before: monthEnd}},
		{"config", "a configuration by name, every version", auditevents.Query{Configuration: configName}},
		{"config-version", "a configuration in one version", auditevents.Query{Configuration: configVersion}},
		{"account-week", "one account over 7 days", auditevents.Query{Account: &globex, Since: monthEnd.AddDate(0, 0, -7), Before: monthEnd}},
		{"page-first", "first page of 100", auditevents.Query{Limit: 100}},
		{"page-deep", "a page of 100 deep in the results, by cursor", auditevents.Query{Limit: 100, After: mid.Cursor()}},
	}
}

func benchQueries(b *testing.B, data func() *fixture) {
	f := data()
	for _, shape := range f.shapes {
		b.Run(shape.Name, func(b *testing.B) {
			s := f.store
			ctx := context.Background()
			b.ReportAllocs()
			var n int
			for b.Loop() {
				n = 0
				for _, err := range s.Query(ctx, shape.Query) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(n), "events/op")
		})
	}
}

func benchExport(b *testing.B, data func() *fixture) {
	s := data().store
	ctx := context.Background()
	b.ReportAllocs()
	var n int
	for b.Loop() {
		var err error
		n, err = auditevents.WriteCSV(io.Discard, s.Query(ctx, auditevents.Query{}), nil)
		if err != nil {
			b.Fatal(err)
		}
	}
	if n != BenchmarkEvents {
		b.Fatalf("exported %d events, want %d", n, BenchmarkEvents)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n), "events/op")
}
