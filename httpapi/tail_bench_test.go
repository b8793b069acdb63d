package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
)

// BenchmarkTailFanout measures the live tail's fan-out: 100 clients tail
// one account of a memstore over loopback HTTP while b.N events are
// appended one per commit. It reports the events each client receives per
// second ("events/s", all clients together "deliveries/s") and the
// latency from the start of Append to a client's reading of the event
// (p50, p99, max over every client and event). "unpaced" appends as fast
// as it can; "1000/s" appends an event every millisecond, the rate at
// which the latency means most.
//
//	go test -run '^$' -bench TailFanout -benchtime 5000x ./httpapi
func BenchmarkTailFanout(b *testing.B) {
	for _, bc := range []struct {
		name     string
		interval time.Duration
	}{{"unpaced", 0}, {"1000/s", time.Millisecond}} {
		b.Run(bc.name, func(b *testing.B) { benchFanout(b, 100, bc.interval) })
	}
}

func benchFanout(b *testing.B, clients int, interval time.Duration) {
	store := memstore.New()
	defer store.Close()
	h, err := httpapi.New(store, &httpapi.Options{Tail: &httpapi.TailOptions{}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h.Tail())
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: 0}}

	n := b.N
	recv := make([][]int64, clients) // by client, the time each sequence arrived
	var wg sync.WaitGroup
	ready := make(chan struct{}, clients)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for c := range clients {
		recv[c] = make([]int64, n)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?from=0", nil)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			defer res.Body.Close()
			r := bufio.NewReaderSize(res.Body, 64<<10)
			var seq int64
			got := 0
			ready <- struct{}{}
			for got < n {
				line, err := r.ReadSlice('\n')
				if err != nil {
					b.Error(err)
					return
				}
				switch {
				case bytes.HasPrefix(line, []byte("id: ")):
					seq, _ = strconv.ParseInt(string(line[4:len(line)-1]), 10, 64)
				case bytes.HasPrefix(line, []byte("data: ")):
					recv[c][seq] = time.Now().UnixNano()
					got++
				}
			}
		})
	}
	for range clients {
		<-ready
	}
	sent := make([]int64, n)
	event := auditevents.AuditEvent{User: "alice", Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, ResourceName: "prod", Description: "changed the configuration's processors"}
	rec := auditevents.NewRecorder(store, nil)
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		if tick != nil {
			<-tick
		}
		sent[i] = time.Now().UnixNano()
		if err := rec.Record(context.Background(), event); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()

	lat := make([]time.Duration, 0, n*clients)
	for c := range clients {
		for i := range n {
			lat = append(lat, time.Duration(recv[c][i]-sent[i]))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(n*clients)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
