package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// benchEvents is the size of the benchmarked responses.
const benchEvents = 10_000

// benchStores lists the stores the benchmarks run over, each filled with
// benchEvents events.
var benchStores = []struct {
	name string
	new  func(tb testing.TB) auditevents.Store
}{
	{"memstore", func(tb testing.TB) auditevents.Store {
		store, _ := newStore(tb, generated(benchEvents))
		return store
	}},
	{"boltstore", func(tb testing.TB) auditevents.Store {
		store, err := boltstore.Open(filepath.Join(tb.TempDir(), "audit.db"), nil)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { store.Close() })
		mem, events := newStore(tb, generated(benchEvents))
		mem.Close()
		if err := store.Append(context.Background(), events...); err != nil {
			tb.Fatal(err)
		}
		return store
	}},
}

// discardWriter is a ResponseWriter that keeps the headers and drops the
// body, so that benchmarks measure the handler rather than a recorder's
// buffer or a network.
type discardWriter struct {
	header http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) WriteHeader(status int)      { w.status = status }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) Flush()                      {}

// BenchmarkList compares the list endpoint, serving 10,000 events, with its
// baseline: the store's query and the JSON encoder alone, writing to
// io.Discard in chunks as the handler does. The HTTP layer's cost is the
// ratio of the two ns/op.
func BenchmarkList(b *testing.B) {
	for _, s := range benchStores {
		store := s.new(b)
		b.Run(s.name+"/baseline", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 64<<10)
			for b.Loop() {
				if n := encodeList(b, store, buf); n != benchEvents {
					b.Fatalf("events: got %d, want %d", n, benchEvents)
				}
			}
			reportEvents(b)
		})
		for _, target := range []string{"/v1/audit-events", "/v1/audit-events?min-date=20000101000000&max-date=20991231000000"} {
			name := s.name + "/http"
			if target != "/v1/audit-events" {
				name += "-filtered"
			}
			b.Run(name, func(b *testing.B) {
				benchHandler(b, newHandler(b, store, nil).List(), target)
			})
		}
		b.Run(s.name+"/http-paged-1000", func(b *testing.B) {
			h := newHandler(b, store, nil).List()
			req := httptest.NewRequest(http.MethodGet, "/v1/audit-events?limit=1000", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{header: make(http.Header)}
				h.ServeHTTP(w, req)
				if w.status != http.StatusOK || w.header.Get("Link") == "" {
					b.Fatalf("status %d, Link %q", w.status, w.header.Get("Link"))
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDownload compares the download endpoint, serving 10,000 events,
// with its baseline: the store's query and the CSV writer alone; and the
// download as JSON Lines ("http-jsonl").
func BenchmarkDownload(b *testing.B) {
	for _, s := range benchStores {
		store := s.new(b)
		ctx := context.Background()
		b.Run(s.name+"/baseline", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n, err := auditevents.WriteCSV(io.Discard, store.Query(ctx, auditevents.Query{}), nil)
				if err != nil || n != benchEvents {
					b.Fatalf("WriteCSV: %d, %v", n, err)
				}
			}
			reportEvents(b)
		})
		b.Run(s.name+"/http", func(b *testing.B) {
			benchHandler(b, newHandler(b, store, nil).Download(), "/v1/audit-events/download")
		})
		b.Run(s.name+"/http-jsonl", func(b *testing.B) {
			benchHandler(b, newHandler(b, store, nil).Download(), "/v1/audit-events/download?format=jsonl")
		})
	}
}

func benchHandler(b *testing.B, h http.Handler, target string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := &discardWriter{header: make(http.Header)}
		h.ServeHTTP(w, req)
		if w.status != 0 && w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	reportEvents(b)
}

func reportEvents(b *testing.B) {
	b.ReportMetric(float64(b.N)*benchEvents/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkOverhead measures the HTTP layer's cost as a ratio on a noisy
// machine: each iteration serves the 10,000-event response through the
// handler and then runs its baseline (the store's query and the encoder
// alone), so that both see the same load. It reports the ratio of their
// median durations, http/baseline; 1.20 would be a 20% overhead.
func BenchmarkOverhead(b *testing.B) {
	for _, s := range benchStores {
		store := s.new(b)
		ctx := context.Background()
		h := newHandler(b, store, nil)
		buf := make([]byte, 0, 64<<10)
		listBaseline := func() { encodeList(b, store, buf) }
		csvBaseline := func() {
			if _, err := auditevents.WriteCSV(io.Discard, store.Query(ctx, auditevents.Query{}), nil); err != nil {
				b.Fatal(err)
			}
		}
		for _, c := range []struct {
			name     string
			handler  http.Handler
			target   string
			baseline func()
		}{
			{"list", h.List(), "/v1/audit-events", listBaseline},
			{"download", h.Download(), "/v1/audit-events/download", csvBaseline},
		} {
			b.Run(s.name+"/"+c.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, c.target, nil)
				var served, base []time.Duration
				for b.Loop() {
					start := time.Now()
					c.handler.ServeHTTP(&discardWriter{header: make(http.Header)}, req)
					mid := time.Now()
					c.baseline()
					served, base = append(served, mid.Sub(start)), append(base, time.Since(mid))
				}
				b.ReportMetric(float64(median(served))/float64(median(base)), "http/baseline")
				b.ReportMetric(float64(median(served))/1e6, "http-ms")
				b.ReportMetric(float64(median(base))/1e6, "baseline-ms")
			})
		}
	}
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

// encodeList is the list endpoint's baseline: the store's query and the JSON
// encoder alone, writing to io.Discard in chunks as the handler does, in buf.
// It returns how many events it encoded.
func encodeList(tb testing.TB, store auditevents.Store, buf []byte) int {
	buf = append(buf[:0], '[')
	n := 0
	for e, err := range store.Query(context.Background(), auditevents.Query{}) {
		if err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = e.AppendJSON(buf)
		n++
		if len(buf) >= 32<<10 {
			io.Discard.Write(buf)
			buf = buf[:0]
		}
	}
	io.Discard.Write(append(buf, ']'))
	return n
}
