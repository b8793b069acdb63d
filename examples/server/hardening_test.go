package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// baseURL returns the scheme and host of the first printed command.
func baseURL(t *testing.T, cmds []string) string {
	t.Helper()
	for _, f := range strings.Fields(cmds[0]) {
		if u, err := url.Parse(strings.Trim(f, "'")); err == nil && u.Scheme == "http" {
			return u.Scheme + "://" + u.Host
		}
	}
	t.Fatalf("no URL in %q", cmds[0])
	return ""
}

// TestBothShapes checks -envelope-prefix: the spec's arrays under /v1, the
// envelope Bindplane's collector reads under the second prefix, and a
// printed command for each.
func TestBothShapes(t *testing.T) {
	cmds := startServer(t, "-envelope-prefix", "/collector", "-seed", "20")
	if got, want := len(cmds), 14; got != want {
		t.Fatalf("printed %d curl commands, want %d:\n%s", got, want, strings.Join(cmds, "\n"))
	}
	var collector string
	for _, c := range cmds {
		if strings.Contains(c, "/collector/v1/audit-events") {
			collector = c
		}
	}
	if collector == "" {
		t.Fatalf("no printed command for the collector's prefix:\n%s", strings.Join(cmds, "\n"))
	}
	var envelope struct {
		AuditEvents []auditevents.AuditEvent `json:"auditEvents"`
	}
	if err := json.NewDecoder(curl(t, collector).Body).Decode(&envelope); err != nil || len(envelope.AuditEvents) != 20 {
		t.Errorf("%s: %d events, %v; want the 20 seeded in an envelope", collector, len(envelope.AuditEvents), err)
	}
	var array []auditevents.AuditEvent
	if err := json.NewDecoder(curl(t, cmds[0]).Body).Decode(&array); err != nil || len(array) != 20 {
		t.Errorf("%s: %d events, %v; want the 20 seeded in an array", cmds[0], len(array), err)
	}
}

// TestIdleConnectionsClosed checks that the server closes, within its idle
// timeout, a connection that sends nothing, and one that sends a request
// and then only the start of the next: neither holds a connection open.
func TestIdleConnectionsClosed(t *testing.T) {
	base := baseURL(t, startServer(t, "-idle-timeout", "200ms", "-seed", "0"))
	addr := strings.TrimPrefix(base, "http://")
	for _, tt := range []struct {
		name  string
		first string // sent first, and answered when it is a whole request
		then  string // sent after the answer
	}{
		{"nothing sent", "", ""},
		{"half a request line", "GE", ""},
		{"a request, then 3 bytes", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET"},
		{"a request, then half its headers", "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET /healthz HTTP/1.1\r\nHos"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// Far beyond the idle timeout: a failure, not a wait.
			conn.SetDeadline(time.Now().Add(20 * time.Second))
			r := bufio.NewReader(conn)
			io.WriteString(conn, tt.first)
			if strings.HasSuffix(tt.first, "\r\n\r\n") {
				res, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				io.WriteString(conn, tt.then)
			}
			// The server closes the connection (a half-sent request may
			// first get its 408 or 400 answer).
			rest, err := io.ReadAll(r)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the connection was still open after 20 s")
			}
			if len(rest) > 0 && !strings.HasPrefix(string(rest), "HTTP/1.1 4") {
				t.Errorf("after the idle timeout got %q, want the connection closed", rest)
			}
		})
	}
}

// TestConcurrentChanges checks that changes to one configuration from many
// clients at once each get a version of their own: one creates it at
// version 1, the others modify it to versions 2 to n, none twice.
func TestConcurrentChanges(t *testing.T) {
	cmds := startServer(t, "-seed", "0")
	i := slices.IndexFunc(cmds, func(c string) bool { return strings.Contains(c, "-X PUT") })
	if i < 0 {
		t.Fatalf("no PUT among the printed commands:\n%s", strings.Join(cmds, "\n"))
	}
	put := cmds[i]
	target := baseURL(t, cmds) + "/v1/configurations/my-config"
	key := strings.TrimSuffix(strings.Fields(put)[6], "'") // curl -s -X PUT -H 'X-Bindplane-Api-Key: KEY' URL
	const n = 24
	var wg sync.WaitGroup
	statuses := make(chan string, n)
	for range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPut, target, nil)
			req.Header.Set("X-Bindplane-Api-Key", key)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- err.Error()
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			statuses <- res.Status
		})
	}
	wg.Wait()
	close(statuses)
	created := 0
	for s := range statuses {
		switch s {
		case "201 Created":
			created++
		case "200 OK":
		default:
			t.Errorf("PUT %s: %s", target, s)
		}
	}
	if created != 1 {
		t.Errorf("%d requests created the configuration, want 1", created)
	}
	res := curl(t, cmds[0])
	var events []auditevents.AuditEvent
	if err := json.NewDecoder(res.Body).Decode(&events); err != nil {
		t.Fatal(err)
	}
	var versions []string
	for _, e := range events {
		versions = append(versions, e.Configuration)
	}
	slices.Reverse(versions) // oldest first
	var want []string
	for v := 1; v <= n; v++ {
		want = append(want, fmt.Sprintf("my-config:%d", v))
	}
	if !slices.Equal(versions, want) {
		t.Errorf("recorded versions, oldest first:\n got %q\nwant %q", versions, want)
	}
}

// BenchmarkConcurrentWrites measures the latency of configuration changes
// from 8 concurrent writers over HTTP, against a durable bbolt store. The
// baseline, "one lock", holds one lock across each change's Append, as the
// example once did, so every write waits for the fsyncs of the writes
// before it; "version lock" is the server as it is, serialising only each
// configuration's version, so concurrent writes share group commits. Read
// the ratio of the two in one run:
//
//	go test -run '^$' -bench ConcurrentWrites -benchtime 2000x ./examples/server
func BenchmarkConcurrentWrites(b *testing.B) {
	const writers = 8
	for _, mode := range []string{"one lock", "version lock"} {
		b.Run(mode, func(b *testing.B) {
			store, err := boltstore.Open(filepath.Join(b.TempDir(), "audit.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			s := newServer(store, map[string]string{"k": "acme"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
			mux := http.NewServeMux()
			s.routes(mux)
			var h http.Handler = mux
			if mode == "one lock" {
				var mu sync.Mutex
				h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					defer mu.Unlock()
					mux.ServeHTTP(w, r)
				})
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			client := srv.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = writers

			latencies := make([][]time.Duration, writers)
			var wg sync.WaitGroup
			b.ResetTimer()
			for w := range writers {
				wg.Go(func() {
					// Each writer changes configurations of its own and one
					// that all share.
					for i := w; i < b.N; i += writers {
						name := fmt.Sprintf("config-%d", w)
						if i%4 == 0 {
							name = "shared"
						}
						req, _ := http.NewRequest(http.MethodPut, srv.URL+"/v1/configurations/"+name, nil)
						req.Header.Set("X-Bindplane-Api-Key", "k")
						start := time.Now()
						res, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, res.Body)
						res.Body.Close()
						latencies[w] = append(latencies[w], time.Since(start))
						if res.StatusCode != http.StatusOK && res.StatusCode != http.StatusCreated {
							b.Errorf("status %d", res.StatusCode)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			all := slices.Concat(latencies...)
			slices.Sort(all)
			if len(all) == 0 {
				return
			}
			q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(len(all))/b.Elapsed().Seconds(), "writes/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}
