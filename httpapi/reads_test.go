package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
	"golang.org/x/mod/sumdb/note"
)

// actorFixture returns the fixture's events with actor fields on some.
func actorFixture() []auditevents.AuditEvent {
	events := fixture()
	events[0].IPAddress, events[0].UserAgent, events[0].RequestID = "192.0.2.77", "curl/8.5.0", "req-0"
	events[4].IPAddress, events[4].RequestID = "2001:db8:1:2::5", "req-4"
	events[4].Metadata = map[string]string{"session": "s-9", "region": "eu"}
	events[5].UserAgent = "Mozilla/5.0"
	return events
}

// TestRedactPerEndpoint checks that each endpoint's Redactor applies to its
// events only, that the stored events do not change, and that the log's
// entries are never redacted.
func TestRedactPerEndpoint(t *testing.T) {
	store, all := newStore(t, actorFixture())
	maskIP, err := auditevents.MaskIPAddress(24, 48)
	if err != nil {
		t.Fatal(err)
	}
	noUA, err := auditevents.RedactFields("userAgent", "metadata.session")
	if err != nil {
		t.Fatal(err)
	}
	h := mux(newHandler(t, store, &httpapi.Options{
		CSV:    &auditevents.CSVOptions{ActorColumns: true},
		Redact: httpapi.Redaction{List: maskIP, Download: noUA},
		Log:    &httpapi.LogOptions{Name: "example.com/audit", Signer: testSigner(t)},
	}))
	byID := func(events []auditevents.AuditEvent) map[string]auditevents.AuditEvent {
		m := make(map[string]auditevents.AuditEvent)
		for _, e := range events {
			m[e.ID] = e
		}
		return m
	}

	// The listing: addresses masked, nothing else changed.
	listed := byID(decodeEvents(t, do(t, h, http.MethodGet, "/v1/audit-events").Body.Bytes()))
	for _, e := range all {
		want := e
		if e.IPAddress != "" {
			want = maskIP.Apply(context.Background(), e)
		}
		got := listed[e.ID]
		if !got.Equal(&want) {
			t.Errorf("listing, event %s:\n got  %+v\n want %+v", e.ID, got, want)
		}
	}
	if got := listed[all[5].ID].IPAddress; got != "192.0.2.0" {
		t.Errorf("listing: masked IPv4 %q, want 192.0.2.0", got)
	}
	if got := listed[all[1].ID].IPAddress; got != "2001:db8:1::" {
		t.Errorf("listing: masked IPv6 %q, want 2001:db8:1::", got)
	}

	// The CSV: the download's Redactor, with the actor columns.
	rows, err := csv.NewReader(do(t, h, http.MethodGet, "/v1/audit-events/download").Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := append(auditevents.CSVColumns(), auditevents.CSVActorColumns()...)
	if len(rows) != len(all)+1 || !slices.Equal(rows[0], wantHeader) {
		t.Fatalf("CSV: %d rows, header %v; want %d rows, header %v", len(rows), rows[0], len(all)+1, wantHeader)
	}
	for i, e := range all {
		row := rows[i+1]
		if got, want := row[9:], []string{e.IPAddress, "", e.RequestID, metadataCell(e.Metadata, "session")}; !slices.Equal(got, want) {
			t.Errorf("CSV row %d actor columns %q, want %q", i, got, want)
		}
	}

	// The JSON Lines download, the same endpoint in the format the client
	// chose: the same Redactor, so neither format serves what the other
	// hides, whether asked by parameter or by Accept.
	for _, req := range []*http.Request{
		httptest.NewRequest(http.MethodGet, "/v1/audit-events/download?format=jsonl", nil),
		func() *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/v1/audit-events/download", nil)
			r.Header.Set("Accept", "application/x-ndjson")
			return r
		}(),
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		lines := strings.Split(strings.TrimSpace(rec.Body.String()), "\n")
		if len(lines) != len(all) {
			t.Fatalf("JSON Lines (%s): %d lines, want %d", req.URL, len(lines), len(all))
		}
		for i, e := range all {
			want := noUA.Apply(context.Background(), e)
			if got := lines[i]; got != string(want.AppendJSON(nil)) {
				t.Errorf("JSON Lines (%s) line %d:\n got  %s\n want %s", req.URL, i, got, want.AppendJSON(nil))
			}
		}
	}

	// The log's entries: never redacted.
	entriesBody := do(t, h, http.MethodGet, "/v1/audit-events/log/entries").Body.String()
	if !strings.Contains(entriesBody, `"ipAddress":"192.0.2.77"`) {
		t.Errorf("log entries redacted: %s", entriesBody)
	}

	// The store: unchanged.
	stored, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	for i := range all {
		if !stored[i].Equal(&all[i]) {
			t.Errorf("stored event %d changed: %+v, was %+v", i, stored[i], all[i])
		}
	}
}

// metadataCell returns the CSV cell of m without the key drop.
func metadataCell(m map[string]string, drop string) string {
	if len(m) == 0 {
		return ""
	}
	m2 := make(map[string]string)
	for k, v := range m {
		if k != drop {
			m2[k] = v
		}
	}
	return string(auditevents.AppendMetadataJSON(nil, m2))
}

// TestRedactTail checks the tail's Redactor, and that it sees the
// request's context.
func TestRedactTail(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	type audience struct{}
	ts := newTailServer(t, store, &httpapi.Options{Redact: httpapi.Redaction{
		Tail: func(ctx context.Context, e *auditevents.AuditEvent) {
			if ctx.Value(audience{}) == nil { // no middleware here: every request
				e.IPAddress = ""
			}
		},
	}})
	c := connect(t, ts.url)
	c.next(t)
	ctx := auditevents.ContextWithActor(context.Background(), auditevents.Actor{IPAddress: "192.0.2.1", RequestID: "r"})
	if err := auditevents.NewRecorder(store, nil).RecordWithActor(ctx, auditevents.AuditEvent{User: "a", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent}); err != nil {
		t.Fatal(err)
	}
	if _, e := c.event(t); e.IPAddress != "" || e.RequestID != "r" {
		t.Errorf("tail: ipAddress %q requestId %q, want the address removed, the request ID kept", e.IPAddress, e.RequestID)
	}
}

// reads collects what Options.OnRead is given.
type reads struct {
	mu   sync.Mutex
	got  []httpapi.Read
	each chan httpapi.Read
}

func newReads() *reads { return &reads{each: make(chan httpapi.Read, 100)} }

func (rs *reads) onRead(ctx context.Context, rd httpapi.Read) {
	if ctx.Err() != nil {
		panic("OnRead's context is cancelled")
	}
	rs.mu.Lock()
	rs.got = append(rs.got, rd)
	rs.mu.Unlock()
	rs.each <- rd
}

// next returns the next Read, waiting for it.
func (rs *reads) next(tb testing.TB) httpapi.Read {
	tb.Helper()
	return <-rs.each
}

// TestOnRead checks what the read hook is told of complete, paged, refused
// and failed requests, once per request.
func TestOnRead(t *testing.T) {
	store, all := newStore(t, actorFixture())
	rs := newReads()
	authorize := func(r *http.Request) (string, error) {
		switch r.Header.Get("X-Bindplane-Api-Key") {
		case "acme":
			return "acme", nil
		case "":
			return "", httpapi.ErrUnauthorized
		}
		return "", nil
	}
	h := mux(newHandler(t, store, &httpapi.Options{
		Authorize: authorize,
		OnRead:    rs.onRead,
		Log:       &httpapi.LogOptions{Name: "example.com/audit", Signer: testSigner(t)},
	}))
	unscoped := 0
	for _, e := range all {
		if e.Account == "" {
			unscoped++
		}
	}
	tests := []struct {
		name, method, target, key string
		endpoint, format          string
		status, events            int
		complete, authorized      bool
		account                   string
	}{
		{"listing", "GET", "/v1/audit-events", "k", httpapi.ListPath, "", 200, unscoped, true, true, ""},
		{"listing of an account", "GET", "/v1/audit-events?user=bob", "acme", httpapi.ListPath, "", 200, 2, true, true, "acme"},
		{"page", "GET", "/v1/audit-events?limit=2", "k", httpapi.ListPath, "", 200, 2, true, true, ""},
		{"HEAD", "HEAD", "/v1/audit-events", "k", httpapi.ListPath, "", 200, 0, true, true, ""},
		{"download", "GET", "/v1/audit-events/download", "k", httpapi.DownloadPath, "csv", 200, unscoped, true, true, ""},
		{"download as JSON Lines", "GET", "/v1/audit-events/download?format=jsonl&request-id=req-4", "k", httpapi.DownloadPath, "jsonl", 200, 1, true, true, ""},
		{"unauthorized", "GET", "/v1/audit-events", "", httpapi.ListPath, "", 401, 0, false, false, ""},
		{"bad parameter", "GET", "/v1/audit-events?ip-address=nope", "acme", httpapi.ListPath, "", 400, 0, false, true, "acme"},
		{"bad format", "GET", "/v1/audit-events/download?format=xml", "k", httpapi.DownloadPath, "", 400, 0, false, true, ""},
		{"method", "POST", "/v1/audit-events", "k", httpapi.ListPath, "", 405, 0, false, false, ""},
		{"checkpoint", "GET", "/v1/audit-events/log/checkpoint", "acme", httpapi.CheckpointPath, "", 200, 0, true, true, "acme"},
		{"log entries", "GET", "/v1/audit-events/log/entries", "acme", httpapi.EntriesPath, "", 200, 2, true, true, "acme"},
		{"log bad parameter", "GET", "/v1/audit-events/log/entries?from=x", "acme", httpapi.EntriesPath, "", 400, 0, false, true, "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			if tt.key != "" {
				req.Header.Set("X-Bindplane-Api-Key", tt.key)
			}
			res := httptest.NewRecorder()
			h.ServeHTTP(res, req)
			rd := rs.next(t)
			if len(rs.each) != 0 {
				t.Fatalf("OnRead called %d times more", len(rs.each))
			}
			if rd.Request != req || rd.Endpoint != tt.endpoint || rd.Format != tt.format || rd.Status != tt.status || res.Code != tt.status ||
				rd.Events != tt.events || rd.Complete != tt.complete || rd.Authorized != tt.authorized || rd.Account != tt.account {
				t.Errorf("got %+v (response %d)\nwant endpoint %s format %q status %d events %d complete %v authorized %v account %q",
					rd, res.Code, tt.endpoint, tt.format, tt.status, tt.events, tt.complete, tt.authorized, tt.account)
			}
			if (rd.Err == nil) != tt.complete {
				t.Errorf("Err %v with Complete %v", rd.Err, rd.Complete)
			}
			if tt.status == 400 && !strings.Contains(rd.Err.Error(), "invalid") {
				t.Errorf("Err %v, want the 400's message", rd.Err)
			}
			if rd.Duration <= 0 {
				t.Errorf("Duration %v, want more than 0", rd.Duration)
			}
		})
	}
	// The query as run, confined to the account.
	req := httptest.NewRequest("GET", "/v1/audit-events?user=bob&ip-address=192.0.2.0/24", nil)
	req.Header.Set("X-Bindplane-Api-Key", "acme")
	h.ServeHTTP(httptest.NewRecorder(), req)
	rd := rs.next(t)
	if q := rd.Query; q.User != "bob" || q.IPAddress.String() != "192.0.2.0/24" || q.Account == nil || *q.Account != "acme" {
		t.Errorf("Query %+v, want user bob, ip-address 192.0.2.0/24, account acme", q)
	}
	ev := rd.Event()
	if ev.Account != "acme" || ev.Action != httpapi.ActionRead || ev.ResourceKind != auditevents.KindAuditTrail || ev.ResourceName != httpapi.ListPath ||
		ev.Description != "GET /v1/audit-events?user=bob&ip-address=192.0.2.0/24: status 200, 0 events" {
		t.Errorf("Event: %+v", ev)
	}
}

// TestOnReadCutShort checks that a download cut short by a failing store is
// reported once, incomplete, with the store's error and the events
// written before it.
func TestOnReadCutShort(t *testing.T) {
	store, _ := newStore(t, generated(2000))
	wrapped := newWrapStore(store)
	wrapped.failAfter, wrapped.err = 1500, errDatabaseDown
	rs := newReads()
	logger, _ := newLogger(t)
	srv := httptest.NewUnstartedServer(mux(newHandler(t, wrapped, &httpapi.Options{Logger: logger, OnRead: rs.onRead})))
	srv.Config.ErrorLog = discardLog()
	srv.Start()
	t.Cleanup(srv.Close)
	res, err := srv.Client().Get(srv.URL + "/v1/audit-events/download")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(res.Body)
	res.Body.Close()
	rd := rs.next(t)
	if rd.Complete || !errors.Is(rd.Err, errDatabaseDown) || rd.Events != 1500 || rd.Status != 200 || rd.Format != httpapi.FormatCSV {
		t.Errorf("got %+v, want incomplete with the store's error after 1500 events, status 200, csv", rd)
	}
	if ev := rd.Event(); ev.Action != httpapi.ActionExported || !strings.HasSuffix(ev.Description, "1500 events as csv, incomplete") {
		t.Errorf("Event: %+v", ev)
	}
	srv.Close()
	if len(rs.each) != 0 {
		t.Errorf("OnRead called %d times more", len(rs.each))
	}
}

// TestOnReadTail checks that a tail is reported once, when its client
// leaves, with the events it was sent, and that a read recorded by the hook
// into the tailed account does not wake the tail into a loop.
func TestOnReadTail(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	rs := newReads()
	rec := auditevents.NewRecorder(store, nil)
	ts := newTailServer(t, store, &httpapi.Options{OnRead: func(ctx context.Context, rd httpapi.Read) {
		e := rd.Event()
		e.User = "reader"
		if err := rec.RecordWithActor(ctx, e); err != nil {
			panic(err)
		}
		rs.onRead(ctx, rd)
	}})
	c := connect(t, ts.url+"?user=alice")
	c.next(t)
	appendTo(t, store, "", "alice", auditevents.ActionCreated, 3)
	for range 3 {
		c.event(t)
	}
	c.close()
	rd := rs.next(t)
	<-ts.done
	if rd.Endpoint != httpapi.TailPath || rd.Events != 3 || !rd.Complete || rd.Err != nil || rd.Query.User != "alice" {
		t.Errorf("got %+v, want the tail, 3 events, complete", rd)
	}
	// The read is an event of the account now, once.
	n := 0
	for e, err := range store.Query(context.Background(), auditevents.Query{ResourceKind: auditevents.KindAuditTrail}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if e.Action != httpapi.ActionRead || e.User != "reader" {
			t.Errorf("recorded read %+v", e)
		}
	}
	if n != 1 || len(rs.each) != 0 {
		t.Errorf("%d reads recorded, %d more calls; want 1 and none", n, len(rs.each))
	}
}

// testSigner returns a signer of a new key for the log named
// example.com/audit.
func testSigner(tb testing.TB) note.Signer {
	tb.Helper()
	skey, _, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		tb.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	return signer
}

// TestOnReadLeavesResponsesAlone checks that observing the reads changes
// no byte of any response: a spec-shaped request gets the same status,
// headers, body and trailer with OnRead as without.
func TestOnReadLeavesResponsesAlone(t *testing.T) {
	store, _ := newStore(t, generated(300))
	now := func() time.Time { return t0 }
	plain := mux(newHandler(t, store, &httpapi.Options{Now: now}))
	observed := mux(newHandler(t, store, &httpapi.Options{Now: now, OnRead: func(context.Context, httpapi.Read) {}}))
	for _, target := range []string{
		"/v1/audit-events",
		"/v1/audit-events?user=alice&min-date=20250101000000",
		"/v1/audit-events?limit=7",
		"/v1/audit-events/download",
		"/v1/audit-events/download?format=jsonl",
		"/v1/audit-events?usr=alice",
		"/v1/audit-events/download?min-date=yesterday",
	} {
		want := do(t, plain, http.MethodGet, target)
		got := do(t, observed, http.MethodGet, target)
		if got.Code != want.Code || !bytes.Equal(got.Body.Bytes(), want.Body.Bytes()) || !reflect.DeepEqual(got.Header(), want.Header()) {
			t.Errorf("%s: with OnRead %d %v %q\nwithout %d %v %q", target, got.Code, got.Header(), truncate(got.Body.Bytes()), want.Code, want.Header(), truncate(want.Body.Bytes()))
		}
	}
}

// A Redactor (host code) that panics: net/http drops the connection and no
// status reaches the client, so OnRead must not report a 200.
func TestOnReadPanicBeforeFirstByte(t *testing.T) {
	store, _ := newStore(t, actorFixture())
	var mu sync.Mutex
	var reads []httpapi.Read
	h := newHandler(t, store, &httpapi.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Redact: httpapi.Redaction{List: func(context.Context, *auditevents.AuditEvent) { panic("redactor bug") }},
		OnRead: func(_ context.Context, rd httpapi.Read) { mu.Lock(); reads = append(reads, rd); mu.Unlock() },
	})
	srv := httptest.NewUnstartedServer(mux(h))
	srv.Config.ErrorLog = nil
	srv.Start()
	defer srv.Close()
	for _, target := range []string{"/v1/audit-events", "/v1/audit-events?limit=2"} {
		res, err := http.Get(srv.URL + target)
		if err == nil {
			t.Logf("%s: client got status %d", target, res.StatusCode)
			res.Body.Close()
		} else {
			t.Logf("%s: client got error %v", target, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reads) != 2 {
		t.Fatalf("OnRead called %d times for 2 requests", len(reads))
	}
	for _, rd := range reads {
		t.Logf("OnRead: status %d complete %v err %v", rd.Status, rd.Complete, rd.Err)
		if rd.Status != http.StatusInternalServerError || rd.Complete {
			t.Errorf("OnRead reports status %d, complete %v for a request that got no response; want 500, incomplete", rd.Status, rd.Complete)
		}
	}
}

// A HEAD serves no event, paged or not, and OnRead says so.
func TestOnReadHeadServesNoEvents(t *testing.T) {
	store, _ := newStore(t, actorFixture())
	var reads []httpapi.Read
	h := mux(newHandler(t, store, &httpapi.Options{
		OnRead: func(_ context.Context, rd httpapi.Read) { reads = append(reads, rd) },
	}))
	for _, target := range []string{"/v1/audit-events?limit=3", "/v1/audit-events"} {
		res := do(t, h, http.MethodHead, target)
		rd := reads[len(reads)-1]
		t.Logf("HEAD %s: status %d body %d bytes; Read.Events %d, Event().Description %q", target, res.Code, res.Body.Len(), rd.Events, rd.Event().Description)
		if res.Body.Len() == 0 && rd.Events != 0 {
			t.Errorf("HEAD %s: Read.Events = %d, but no event was served", target, rd.Events)
		}
	}
}
