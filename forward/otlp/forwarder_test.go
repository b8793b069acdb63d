package otlp_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/forward/otlp"
	"github.com/auditevents/auditevents/store/memstore"
)

// A Forwarder with an OTLP sink delivers every event of the store to the
// collector, once each, in sequence order within each account.
func TestForwarderToCollector(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	var want []string
	for i, e := range append(testEvents(t), testEvents(t)...) {
		e.ID = fmt.Sprintf("%s%02d", e.ID[:24], i)
		if err := store.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
	}
	acked := make(chan int, 16)
	var c *collector
	c = newCollector(t, func(w http.ResponseWriter) {
		acknowledge(w)
		reqs, _ := c.received()
		acked <- len(reqs[len(reqs)-1].ResourceLogs[0].ScopeLogs[0].LogRecords)
	})
	sink := newSink(t, &otlp.Options{Endpoint: c.URL})
	f, err := forward.New(store, []forward.Route{{Name: "otel", Sink: sink}}, &forward.Options{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	for received := 0; received < len(want); {
		select {
		case n := <-acked:
			received += n
		case <-time.After(30 * time.Second): // a watchdog, not a wait for a result
			t.Fatalf("the collector received %d of %d records", received, len(want))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	reqs, _ := c.received()
	byAccount := map[string][]string{}
	for _, req := range reqs {
		for _, r := range req.ResourceLogs[0].ScopeLogs[0].LogRecords {
			attrs := stringAttrs(t, r.Attributes)
			byAccount[attrs["auditevents.account"]] = append(byAccount[attrs["auditevents.account"]], attrs["log.record.uid"])
		}
	}
	wantBy := map[string][]string{}
	for i, e := range append(testEvents(t), testEvents(t)...) {
		wantBy[e.Account] = append(wantBy[e.Account], want[i])
	}
	for account, ids := range wantBy {
		if got := byAccount[account]; len(got) != len(ids) || !equalSlices(got, ids) {
			t.Errorf("account %q: collector got %v, want %v", account, got, ids)
		}
	}
}

func equalSlices(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
