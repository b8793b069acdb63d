package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
	"github.com/auditevents/auditevents/store/memstore"
)

// startServer runs the example as `go run ./examples/server` does, on a free
// port with a fresh file, and returns the curl commands it prints.
func startServer(t *testing.T, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args = append([]string{"-addr", "127.0.0.1:0", "-db", filepath.Join(t.TempDir(), "audit.db")}, args...)
	go func() {
		done <- run(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	// The commands are printed once the server listens.
	var cmds []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "curl ") {
			cmds = append(cmds, line)
		}
		if strings.Contains(line, "X-Bindplane-Api-Key: wrong") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if len(cmds) == 0 {
		t.Fatal("the server printed no curl commands")
	}
	return cmds
}

// curl runs a printed curl command of the forms the server prints:
// curl -s|-sN [-OJ] [-X METHOD] -H 'Name: value'... 'URL'.
func curl(t *testing.T, cmd string) *http.Response {
	t.Helper()
	fields := strings.Fields(cmd)
	method := http.MethodGet
	var header [][2]string
	var url string
	for i := 1; i < len(fields); i++ {
		switch f := fields[i]; {
		case f == "-s", f == "-sN", f == "-OJ":
		case f == "-X":
			i++
			method = fields[i]
		case f == "-H":
			// 'Name: value' spans two fields.
			name := strings.TrimSuffix(strings.TrimPrefix(fields[i+1], "'"), ":")
			value := strings.TrimSuffix(fields[i+2], "'")
			header = append(header, [2]string{name, value})
			i += 2
		case strings.HasPrefix(f, "'http"):
			url = strings.Trim(f, "'")
		default:
			t.Fatalf("unexpected word %q in %q", f, cmd)
		}
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	for _, h := range header {
		req.Header.Set(h[0], h[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", cmd, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestPrintedCommandsWork(t *testing.T) {
	cmds := startServer(t)
	want := []int{200, 200, 200, 200, 200, 200, 200, 201, 200, 200, 200, 200, 401}
	if len(cmds) != len(want) {
		t.Fatalf("the server printed %d curl commands, want %d:\n%s", len(cmds), len(want), strings.Join(cmds, "\n"))
	}
	for i, cmd := range cmds {
		resp := curl(t, cmd)
		if strings.Contains(cmd, "/tail") {
			// A live tail never ends: its first message says where it
			// starts, an id without data.
			line, err := bufio.NewReader(resp.Body).ReadString('\n')
			if resp.StatusCode != want[i] || err != nil || !strings.HasPrefix(line, "id: ") {
				t.Errorf("%s\n status %d, first line %q (%v); want 200 and an id", cmd, resp.StatusCode, line, err)
			}
			resp.Body.Close()
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != want[i] {
			t.Errorf("%s\n status %d, want %d: %s", cmd, resp.StatusCode, want[i], body)
			continue
		}
		switch {
		case strings.Contains(cmd, "-X PUT"):
			// The change is recorded with the client's context, and the
			// request ID sent is echoed.
			var e auditevents.AuditEvent
			if err := json.Unmarshal(body, &e); err != nil || e.IPAddress != "127.0.0.1" || e.RequestID != demoRequestID || e.UserAgent != "Go-http-client/1.1" {
				t.Errorf("%s\n recorded %s (%v); want the client's address, user agent and request ID", cmd, body, err)
			}
			if got := resp.Header.Get("X-Request-ID"); got != demoRequestID {
				t.Errorf("%s\n X-Request-ID %q, want %q echoed", cmd, got, demoRequestID)
			}
		case strings.Contains(cmd, "request-id="), strings.Contains(cmd, "ip-address="):
			var events []auditevents.AuditEvent
			if err := json.Unmarshal(body, &events); err != nil || len(events) == 0 {
				t.Errorf("%s\n returned %d events (%v), want the changes just made", cmd, len(events), err)
			}
			for _, e := range events {
				if e.IPAddress != "127.0.0.1" || e.UserAgent != "Go-http-client/1.1" || e.RequestID == "" ||
					strings.Contains(cmd, "request-id=") && e.RequestID != demoRequestID {
					t.Errorf("%s\n returned %s, %s, %s: want the change's address, user agent and request ID", cmd, e.IPAddress, e.UserAgent, e.RequestID)
				}
			}
		case strings.Contains(cmd, "format=jsonl"):
			lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
			for _, line := range lines {
				var e auditevents.AuditEvent
				if err := json.Unmarshal([]byte(line), &e); err != nil {
					t.Errorf("%s\n line %q is not an event: %v", cmd, line, err)
					break
				}
			}
		case strings.Contains(cmd, "/download"):
			records, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			if err != nil || len(records) < 2 {
				t.Errorf("%s\n not a CSV table with rows: %v (%d records)", cmd, err, len(records))
			}
		case resp.StatusCode == 401:
			var e struct{ Errors []string }
			if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
				t.Errorf("%s\n 401 body %q is not the spec's ErrorResponse", cmd, body)
			}
		case strings.Contains(cmd, "/log/checkpoint"):
			text, _, _ := strings.Cut(string(body), "\n\n") // the note's text, before its signatures
			if c, err := auditevents.ParseCheckpoint(text + "\n"); err != nil || c.Origin != "localhost/audit/demo" || c.Size == 0 {
				t.Errorf("%s\n returned %q, not a checkpoint of the seeded log: %v", cmd, body, err)
			}
		case strings.Contains(cmd, "/audit-events"):
			var events []map[string]any
			if err := json.Unmarshal(body, &events); err != nil || len(events) == 0 {
				t.Errorf("%s\n returned %d events (%v); the seeded store should answer with some", cmd, len(events), err)
			}
		}
	}
}

func TestEnvelopeAndKeys(t *testing.T) {
	cmds := startServer(t, "-envelope", "-keys", "k1=acme,k2=globex", "-seed", "50")
	list := cmds[0]
	for key, account := range map[string]string{"k1": "acme", "k2": "globex"} {
		cmd := strings.Replace(list, "X-Bindplane-Api-Key: k1", "X-Bindplane-Api-Key: "+key, 1)
		resp := curl(t, cmd)
		var body struct {
			AuditEvents []struct{ Account string } `json:"auditEvents"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		if len(body.AuditEvents) == 0 {
			t.Errorf("key %s sees no events", key)
		}
		for _, e := range body.AuditEvents {
			if e.Account != account {
				t.Fatalf("key %s sees an event of account %q", key, e.Account)
			}
		}
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		ok   bool
	}{
		{"defaults", nil, true},
		{"keys", []string{"-keys", "a=acme, b=globex,c="}, true},
		{"key without account", []string{"-keys", "a"}, false},
		{"empty key", []string{"-keys", "=acme"}, false},
		{"key twice", []string{"-keys", "a=x,a=y"}, false},
		{"negative seed", []string{"-seed", "-1"}, false},
		{"negative retention", []string{"-retention", "-1h"}, false},
		{"stray argument", []string{"extra"}, false},
		{"forward", []string{"-forward", "https://siem.example.com/audit", "-forward-format", "cloudevents"}, true},
		{"forward not a URL", []string{"-forward", "siem.example.com"}, false},
		{"forward format unknown", []string{"-forward", "https://siem.example.com/audit", "-forward-format", "xml"}, false},
		{"forward name", []string{"-forward", "https://siem.example.com/audit", "-forward-name", "siem"}, true},
		{"forward name empty", []string{"-forward", "https://siem.example.com/audit", "-forward-name", ""}, false},
		{"trusted proxies", []string{"-trusted-proxies", "10.0.0.0/8, 192.0.2.10,2001:db8::/32"}, true},
		{"trusted proxy not an address", []string{"-trusted-proxies", "proxy.internal"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFlags(tt.args, io.Discard)
			if got := err == nil; got != tt.ok {
				t.Errorf("parseFlags(%q) = %v, want ok=%v", tt.args, err, tt.ok)
			}
		})
	}
}

// On shutdown the server closes its store: the file can be opened again at
// once and holds what was recorded.
func TestShutdownClosesTheStore(t *testing.T) {
	db := filepath.Join(t.TempDir(), "audit.db")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-db", db, "-seed", "30"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.Contains(sc.Text(), "curl") {
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	store, err := boltstore.Open(db, nil)
	if err != nil {
		t.Fatalf("reopening after shutdown: %v", err)
	}
	defer store.Close()
	events, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{}))
	if err != nil || len(events) != 30 {
		t.Errorf("after shutdown the file holds %d events (%v), want the 30 seeded", len(events), err)
	}
}

// The demo data reads as a real history: per account and configuration,
// Created comes first and after each Deleted, Modified raises the version by
// one, and every other event names a version that exists.
func TestSeedIsACoherentHistory(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	n, err := seed(context.Background(), store, map[string]string{"a": "acme", "b": "globex"}, 2000, now)
	if err != nil || n != 2000 {
		t.Fatalf("seed = %d, %v", n, err)
	}
	events, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(events) // oldest first
	type state struct {
		version int
		exists  bool
	}
	states := map[string]*state{}
	kinds := map[auditevents.Kind]bool{}
	for _, e := range events {
		if e.Timestamp.Before(now.Add(-30*24*time.Hour)) || e.Timestamp.After(now) {
			t.Fatalf("event at %s, outside the 30 days before %s", e.Timestamp, now)
		}
		kinds[e.ResourceKind] = true
		if e.Configuration == "" {
			continue
		}
		name, v := auditevents.SplitConfiguration(e.Configuration)
		version, _ := strconv.Atoi(v)
		st := states[e.Account+"/"+name]
		if st == nil {
			st = &state{}
			states[e.Account+"/"+name] = st
		}
		if e.ResourceKind != auditevents.KindConfiguration {
			if version != st.version || version == 0 {
				t.Fatalf("%s %s names %s, but the configuration is at version %d", e.ResourceKind, e.ID, e.Configuration, st.version)
			}
			continue
		}
		switch e.Action {
		case auditevents.ActionCreated:
			if st.exists || version != st.version+1 {
				t.Fatalf("Created %s when the configuration exists=%v at version %d", e.Configuration, st.exists, st.version)
			}
			st.exists = true
		case auditevents.ActionModified:
			if !st.exists || version != st.version+1 {
				t.Fatalf("Modified %s when the configuration exists=%v at version %d", e.Configuration, st.exists, st.version)
			}
		case auditevents.ActionDeleted:
			if !st.exists || version != st.version {
				t.Fatalf("Deleted %s when the configuration exists=%v at version %d", e.Configuration, st.exists, st.version)
			}
			st.exists = false
		}
		st.version = version
	}
	if len(kinds) < 6 {
		t.Errorf("the demo holds %d kinds of resource, want the 6 it generates", len(kinds))
	}
	// A store that holds events is left alone.
	if n, err := seed(context.Background(), store, map[string]string{"a": "acme"}, 10, now); n != 0 || err != nil {
		t.Errorf("seeding a full store = %d, %v; want 0, nil", n, err)
	}
}

// TestActorBehindProxy checks that the server believes X-Forwarded-For
// only from a -trusted-proxies peer: a client that sends it directly is
// recorded at its own address.
func TestActorBehindProxy(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"no proxy trusted", nil, "127.0.0.1"},
		{"the peer is a trusted proxy", []string{"-trusted-proxies", "127.0.0.0/8"}, "198.51.100.7"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var put string
			for _, cmd := range startServer(t, tt.args...) {
				if strings.Contains(cmd, "-X PUT") {
					put = cmd
				}
			}
			put = strings.Replace(put, "-X PUT", "-X PUT -H 'X-Forwarded-For: 203.0.113.9,198.51.100.7'", 1)
			resp := curl(t, put)
			var e auditevents.AuditEvent
			if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
				t.Fatal(err)
			}
			if e.IPAddress != tt.want {
				t.Errorf("recorded from %q, want %q", e.IPAddress, tt.want)
			}
		})
	}
}

// TestAuditReads checks that with -audit-reads each read of the audit API
// is recorded once, as an event of the reader's account, and that reading
// those events records one more read, not a loop.
func TestAuditReads(t *testing.T) {
	cmds := startServer(t, "-audit-reads", "-seed", "0")
	list := cmds[0]
	reads := strings.Replace(list, "/v1/audit-events'", "/v1/audit-events?resource-kind=AuditTrail'", 1)
	// The reads listed: none at first; then that listing of the reads and
	// a listing; then those, another listing of the reads and a download.
	for i, want := range []int{0, 2, 4} {
		if i == 1 {
			resp := curl(t, list)
			io.Copy(io.Discard, resp.Body)
		}
		if i == 2 {
			resp := curl(t, strings.Replace(list, "/v1/audit-events'", "/v1/audit-events/download'", 1))
			io.Copy(io.Discard, resp.Body)
		}
		resp := curl(t, reads)
		var events []auditevents.AuditEvent
		if err := json.NewDecoder(resp.Body).Decode(&events); err != nil {
			t.Fatal(err)
		}
		// Read to the end: the response ends after the handler has returned,
		// and so after OnRead recorded this read, which the next listing
		// must see.
		io.Copy(io.Discard, resp.Body)
		// Each listing of the reads sees the reads before it, not itself.
		if got := len(events); got != want {
			t.Errorf("listing %d: %d reads recorded, want %d", i, got, want)
		}
		for _, e := range events {
			if e.Account != "demo" || !strings.HasPrefix(e.User, "apikey-") || e.ResourceKind != auditevents.KindAuditTrail {
				t.Errorf("read recorded as %+v", e)
			}
		}
	}
}
