package forward_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

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
