package forward_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/store/memstore"
)

// BenchmarkBackfillWebhook forwards a backlog of b.N events from a memstore
// to a webhook receiver on loopback, in signed batches of 1,000 JSON Lines.
// "direct" sends the same batches with the webhook alone, the baseline of the
// same run, so the ratio of the two is the forwarder's own cost. The figure
// is events/s.
func BenchmarkBackfillWebhook(b *testing.B) {
	const batch = 1000
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer rcv.Close()
	hook := newWebhook(b, rcv.URL, &forward.WebhookOptions{Secret: []byte("0123456789abcdef0123456789abcdef")})
	for _, mode := range []string{"direct", "forwarder"} {
		b.Run(mode, func(b *testing.B) {
			store := memstore.New()
			defer store.Close()
			events := appendEvents(b, store, "acme", max(b.N, batch))
			b.ResetTimer()
			begin := time.Now()
			switch mode {
			case "direct":
				for i := 0; i < len(events); i += batch {
					if err := hook.Send(b.Context(), events[i:min(i+batch, len(events))]); err != nil {
						b.Fatal(err)
					}
				}
			case "forwarder":
				c := newClock()
				f := newForwarder(b, store, []forward.Route{{Name: "hook", Sink: hook}}, c, &forward.Options{BatchSize: batch})
				stop := start(b, f)
				c.awaitIdle(b, 1)
				b.StopTimer()
				if err := stop(); err != nil {
					b.Fatal(err)
				}
				if m := f.Metrics()[0]; m.Delivered != int64(len(events)) {
					b.Fatalf("delivered %d of %d", m.Delivered, len(events))
				}
			}
			b.ReportMetric(float64(len(events))/time.Since(begin).Seconds(), "events/s")
		})
	}
}

// ackSink wraps a sink, records when each event was acknowledged, and
// closes all once want events were.
type ackSink struct {
	forward.Sink
	mu    sync.Mutex
	acked map[string]time.Time
	want  int
	all   chan struct{}
}

func (s *ackSink) Send(ctx context.Context, events []auditevents.AuditEvent) error {
	if err := s.Sink.Send(ctx, events); err != nil {
		return err
	}
	now := time.Now()
	s.mu.Lock()
	for _, e := range events {
		s.acked[e.ID] = now
	}
	if len(s.acked) == s.want {
		close(s.all)
	}
	s.mu.Unlock()
	return nil
}

// BenchmarkDeliveryLatency appends b.N events one at a time at 1,000 events/s
// while a forwarder sends them to a webhook receiver on loopback, and reports
// the latency from the return of Append to the webhook's acknowledgement:
// "commit" is woken by the store's commits (memstore is an
// auditevents.Notifier, as boltstore is); with the Notifier hidden, as for a
// store without one (pgstore), "poll" finds new events every PollInterval
// (the default, 500ms) and "notify" is woken by Forwarder.Notify after each
// Append. The route names its account: a route of every account finds a
// new account's first events by polling (see Forwarder), and the account
// is new when the benchmark starts. Run it with -benchtime 3000x.
func BenchmarkDeliveryLatency(b *testing.B) {
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	defer rcv.Close()
	for _, mode := range []string{"commit", "poll", "notify"} {
		b.Run(mode, func(b *testing.B) {
			store := memstore.New()
			defer store.Close()
			sink := &ackSink{Sink: newWebhook(b, rcv.URL, nil), acked: make(map[string]time.Time), want: b.N, all: make(chan struct{})}
			var fstore forward.Store = store
			if mode != "commit" {
				fstore = polled{store}
			}
			f, err := forward.New(fstore, []forward.Route{{Name: "hook", Sink: sink, Accounts: []string{"acme"}}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(b.Context())
			done := make(chan error, 1)
			go func() { done <- f.Run(ctx) }()
			appended := make(map[string]time.Time, b.N)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for range b.N {
				<-tick.C
				e := auditevents.AuditEvent{
					ID: ulid.Make().String(), Timestamp: time.Now(), Account: "acme", User: "alice",
					Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration,
				}
				if err := store.Append(ctx, e); err != nil {
					b.Fatal(err)
				}
				appended[e.ID] = time.Now()
				if mode == "notify" {
					f.Notify()
				}
			}
			<-sink.all
			b.StopTimer()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			sink.mu.Lock()
			for id, t := range appended {
				lat = append(lat, max(sink.acked[id].Sub(t), 0))
			}
			sink.mu.Unlock()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		})
	}
}
