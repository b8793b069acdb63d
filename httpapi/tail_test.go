package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
)

// Intervals the tail tests give TailOptions, so that their injected
// tickers know which channel a ticker is.
const (
	testHeartbeat = time.Hour
	testPoll      = time.Minute
)

// tailServer serves a store's live tail to real HTTP clients, with tickers
// the test ticks by hand.
type tailServer struct {
	url       string
	heartbeat chan time.Time // ticks every tail's heartbeat
	poll      chan time.Time // ticks every tail's polling
	done      chan struct{}  // receives when a tail's handler returns
}

func newTailServer(tb testing.TB, store auditevents.Store, opts *httpapi.Options) *tailServer {
	tb.Helper()
	ts := &tailServer{heartbeat: make(chan time.Time), poll: make(chan time.Time), done: make(chan struct{}, 64)}
	var o httpapi.Options
	if opts != nil {
		o = *opts
	}
	if o.Tail == nil {
		o.Tail = &httpapi.TailOptions{}
	}
	o.Tail.Heartbeat, o.Tail.PollInterval = testHeartbeat, testPoll
	o.Tail.NewTicker = func(d time.Duration) (<-chan time.Time, func()) {
		if d == testHeartbeat {
			return ts.heartbeat, func() {}
		}
		return ts.poll, func() {}
	}
	h := newHandler(tb, store, &o)
	m := http.NewServeMux()
	h.Register(m)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, httpapi.TailPath) {
			defer func() { ts.done <- struct{}{} }()
		}
		m.ServeHTTP(w, r)
	}))
	srv.Config.ErrorLog = discardLog()
	srv.Start()
	tb.Cleanup(srv.Close)
	ts.url = srv.URL + "/v1" + httpapi.TailPath
	return ts
}

// sseMessage is one message of an event stream: the fields of the lines
// up to a blank line.
type sseMessage struct {
	id       string
	hasID    bool
	data     string
	comments []string
}

// sseClient reads an event stream as EventSource does.
type sseClient struct {
	res    *http.Response
	r      *bufio.Reader
	lastID string // the last id received, as EventSource keeps it
	cancel context.CancelFunc
}

// connect opens the tail at url with the given headers (pairs of name and
// value), requiring a 200 event stream.
func connect(tb testing.TB, url string, header ...string) *sseClient {
	tb.Helper()
	c, res := open(tb, url, header...)
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		tb.Fatalf("GET %s: status %d, body %s", url, res.StatusCode, body)
	}
	if got, want := res.Header.Get("Content-Type"), "text/event-stream"; got != want {
		tb.Fatalf("Content-Type: got %q, want %q", got, want)
	}
	return c
}

func open(tb testing.TB, url string, header ...string) (*sseClient, *http.Response) {
	tb.Helper()
	// A safety net against a hang, not a timing assertion.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	c := &sseClient{res: res, r: bufio.NewReader(res.Body), cancel: cancel}
	tb.Cleanup(c.close)
	return c, res
}

func (c *sseClient) close() {
	c.cancel()
	c.res.Body.Close()
}

// next reads the next message.
func (c *sseClient) next(tb testing.TB) sseMessage {
	tb.Helper()
	var m sseMessage
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			tb.Fatalf("reading the stream: %v (after %q)", err, line)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if m.hasID {
				c.lastID = m.id
			}
			return m
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			m.comments = append(m.comments, value)
		case "id":
			m.id, m.hasID = value, true
		case "data":
			if m.data != "" {
				m.data += "\n"
			}
			m.data += value
		default:
			tb.Fatalf("unexpected field %q in line %q", field, line)
		}
	}
}

// event reads messages up to the next event and returns its sequence and
// event.
func (c *sseClient) event(tb testing.TB) (int64, auditevents.AuditEvent) {
	tb.Helper()
	for {
		m := c.next(tb)
		if m.data == "" {
			continue
		}
		seq, err := strconv.ParseInt(m.id, 10, 64)
		if err != nil {
			tb.Fatalf("event id %q: %v", m.id, err)
		}
		var e auditevents.AuditEvent
		if err := json.Unmarshal([]byte(m.data), &e); err != nil {
			tb.Fatalf("event data %q: %v", m.data, err)
		}
		return seq, e
	}
}

// appendTo appends n events of the account, each with user and action, and
// returns them with their IDs.
func appendTo(tb testing.TB, store auditevents.Store, account, user string, action auditevents.Action, n int) []auditevents.AuditEvent {
	tb.Helper()
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		events[i] = auditevents.AuditEvent{
			Account: account, User: user, Action: action,
			ResourceKind: auditevents.KindConfiguration, ResourceName: "prod",
		}
	}
	if err := auditevents.NewRecorder(store, nil).Record(context.Background(), events...); err != nil {
		tb.Fatal(err)
	}
	return events
}

// entries returns the account's log as the store gives it.
func entries(tb testing.TB, store auditevents.Ledger, account string) []auditevents.Entry {
	tb.Helper()
	var out []auditevents.Entry
	for e, err := range store.Entries(context.Background(), account, 0) {
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestTailOrder checks what a client of the tail relies on first: it gets
// only the events committed after it connected (by default), each once, in
// commit order, with its sequence as id, and the stream starts by saying
// where it starts.
func TestTailOrder(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	before := appendTo(t, store, "", "alice", auditevents.ActionCreated, 3)
	ts := newTailServer(t, store, nil)
	c := connect(t, ts.url)
	if m := c.next(t); m.id != "2" || m.data != "" {
		t.Fatalf("first message: got %+v, want the id 2 of the last event before the tail and no data", m)
	}
	var want []auditevents.AuditEvent
	for range 3 { // several commits, each waking the tail
		want = append(want, appendTo(t, store, "", "bob", auditevents.ActionModified, 2)...)
	}
	for i, w := range want {
		seq, e := c.event(t)
		if got, want := seq, int64(len(before)+i); got != want {
			t.Errorf("event %d: id %d, want %d", i, got, want)
		}
		if e.ID != w.ID || e.User != w.User {
			t.Errorf("event %d: got %s by %s, want %s by %s", i, e.ID, e.User, w.ID, w.User)
		}
	}

	t.Run("from", func(t *testing.T) {
		c := connect(t, ts.url+"?from=1")
		if m := c.next(t); m.id != "0" {
			t.Fatalf("first message: got %+v, want id 0", m)
		}
		all := entries(t, store, "")
		for i := 1; i < len(all); i++ {
			seq, e := c.event(t)
			if seq != int64(i) || e.ID != all[i].Event.ID {
				t.Errorf("got %d %s, want %d %s", seq, e.ID, i, all[i].Event.ID)
			}
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		res, err := http.Head(ts.url)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Errorf("HEAD: status %d, Content-Type %q", res.StatusCode, res.Header.Get("Content-Type"))
		}
	})
}

// TestTailResume checks the promise of Last-Event-ID: a client that drops
// mid-stream and reconnects with the last id it received gets every later
// event once, while writers append all along.
func TestTailResume(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ts := newTailServer(t, store, nil)
	const batches, per = 100, 5
	c := connect(t, ts.url+"?from=0")
	if m := c.next(t); m.id != "-1" {
		t.Fatalf("first message: got %+v, want id -1, before the first event", m)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for range batches {
			appendTo(t, store, "", "alice", auditevents.ActionModified, per)
		}
	})
	var got []auditevents.AuditEvent
	var seqs []int64
	for range 137 { // mid-batch
		seq, e := c.event(t)
		seqs, got = append(seqs, seq), append(got, e)
	}
	c.close()
	// EventSource reconnects to the same URL, with the id it last received.
	c = connect(t, ts.url+"?from=0", httpapi.LastEventIDHeader, c.lastID)
	for len(got) < batches*per {
		seq, e := c.event(t)
		seqs, got = append(seqs, seq), append(got, e)
	}
	wg.Wait()
	all := entries(t, store, "")
	if len(all) != batches*per {
		t.Fatalf("store holds %d events, want %d", len(all), batches*per)
	}
	for i, e := range all {
		if seqs[i] != e.Seq || got[i].ID != e.Event.ID {
			t.Fatalf("event %d: got id %d %s, want %d %s", i, seqs[i], got[i].ID, e.Seq, e.Event.ID)
		}
	}
}

// TestTailFilters checks that the listing's filters apply to the tail, that
// ids stay the account's sequences across the events they pass over, and
// that a heartbeat moves the client's id past them, so a reconnect does not
// read them again.
func TestTailFilters(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ts := newTailServer(t, store, nil)
	c := connect(t, ts.url+"?user=alice&action=Created")
	c.next(t)
	appendTo(t, store, "", "bob", auditevents.ActionCreated, 2)    // 0, 1
	appendTo(t, store, "", "alice", auditevents.ActionCreated, 1)  // 2
	appendTo(t, store, "", "alice", auditevents.ActionModified, 1) // 3
	appendTo(t, store, "", "alice", auditevents.ActionCreated, 1)  // 4
	appendTo(t, store, "", "carol", auditevents.ActionCreated, 3)  // 5, 6, 7
	for _, want := range []int64{2, 4} {
		seq, e := c.event(t)
		if seq != want || e.User != "alice" || e.Action != auditevents.ActionCreated {
			t.Errorf("got %d by %s %s, want %d by alice Created", seq, e.User, e.Action, want)
		}
	}
	ts.heartbeat <- time.Time{}
	m := c.next(t)
	if !slices.Equal(m.comments, []string{"heartbeat"}) {
		t.Errorf("heartbeat: got %+v, want the comment heartbeat", m)
	}
	if !m.hasID {
		m = c.next(t)
	}
	if m.id != "7" || m.data != "" {
		t.Errorf("after the heartbeat: got %+v, want id 7 without data, past the events filtered out", m)
	}
}

// TestTailActorFilters checks that the tail filters on the actor's IP
// address and request ID, as the listing does.
func TestTailActorFilters(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ts := newTailServer(t, store, nil)
	c := connect(t, ts.url+"?ip-address=2001:db8::/32&request-id=req-2")
	c.next(t)
	rec := auditevents.NewRecorder(store, nil)
	for i, actor := range []auditevents.Actor{
		{IPAddress: "2001:db8::1", RequestID: "req-1"},
		{IPAddress: "192.0.2.1", RequestID: "req-2"},
		{IPAddress: "2001:db8::2", RequestID: "req-2"}, // the one
		{RequestID: "req-2"},
	} {
		ctx := auditevents.ContextWithActor(context.Background(), actor)
		if err := rec.RecordWithActor(ctx, auditevents.AuditEvent{User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent, ResourceName: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	seq, e := c.event(t)
	if seq != 2 || e.IPAddress != "2001:db8::2" || e.RequestID != "req-2" {
		t.Errorf("got %d from %s in %s, want 2 from 2001:db8::2 in req-2", seq, e.IPAddress, e.RequestID)
	}
}

// TestTailHeartbeat checks that an idle stream gets a comment line at each
// tick of its heartbeat, and nothing else.
func TestTailHeartbeat(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ts := newTailServer(t, store, nil)
	c := connect(t, ts.url)
	c.next(t)
	for range 2 {
		ts.heartbeat <- time.Time{}
		if m := c.next(t); !slices.Equal(m.comments, []string{"heartbeat"}) || m.hasID || m.data != "" {
			t.Errorf("got %+v, want only the comment heartbeat", m)
		}
	}
}

// TestTailAccounts checks the tail's account scope: with Authorize, a
// client sees the events of its account and never another's, and cannot
// ask for another; without it, the account parameter chooses.
func TestTailAccounts(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ts := newTailServer(t, store, &httpapi.Options{Authorize: func(r *http.Request) (string, error) {
		return r.Header.Get("X-Account"), nil
	}})
	c := connect(t, ts.url+"?from=0", "X-Account", "acme")
	for range 3 {
		appendTo(t, store, "other", "mallory", auditevents.ActionCreated, 2)
		appendTo(t, store, "acme", "alice", auditevents.ActionCreated, 1)
	}
	for i := range 3 {
		seq, e := c.event(t)
		if seq != int64(i) || e.Account != "acme" {
			t.Errorf("event %d: got %d of account %q, want %d of acme", i, seq, e.Account, i)
		}
	}
	// The acme stream is idle now: one more acme event is the next thing
	// it carries, so nothing of other's came in between.
	want := appendTo(t, store, "acme", "alice", auditevents.ActionDeleted, 1)
	if _, e := c.event(t); e.ID != want[0].ID {
		t.Errorf("got %s of %q, want acme's %s", e.ID, e.Account, want[0].ID)
	}
	_, res := open(t, ts.url+"?account=other", "X-Account", "acme")
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("account parameter with Authorize: status %d, want 400", res.StatusCode)
	}

	t.Run("without Authorize", func(t *testing.T) {
		ts := newTailServer(t, store, nil)
		c := connect(t, ts.url+"?from=0&account=other")
		for range 6 {
			if _, e := c.event(t); e.Account != "other" {
				t.Errorf("got an event of %q, want other", e.Account)
			}
		}
	})
}

// pollingStore hides memstore's Notifier, as a store that cannot notify.
type pollingStore struct {
	auditevents.Store
	auditevents.Ledger
}

// TestTailPolls checks the tail of a store that does not notify: it finds
// new events at its next poll.
func TestTailPolls(t *testing.T) {
	inner := memstore.New()
	t.Cleanup(func() { inner.Close() })
	store := pollingStore{inner, inner}
	ts := newTailServer(t, store, nil)
	c := connect(t, ts.url)
	c.next(t)
	want := appendTo(t, inner, "", "alice", auditevents.ActionCreated, 2)
	ts.poll <- time.Time{}
	for i := range want {
		if seq, e := c.event(t); seq != int64(i) || e.ID != want[i].ID {
			t.Errorf("got %d %s, want %d %s", seq, e.ID, i, want[i].ID)
		}
	}
}

// TestTailBadRequests checks that a malformed request gets 400 in the
// specification's error shape, naming what was wrong, before the stream
// starts.
func TestTailBadRequests(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	appendTo(t, store, "", "alice", auditevents.ActionCreated, 3)
	ts := newTailServer(t, store, nil)
	for _, tc := range []struct {
		name, query, lastEventID, want string
	}{
		{"from not a number", "from=x", "", "from"},
		{"from negative", "from=-1", "", "from"},
		{"from beyond the log", "from=4", "", "from"},
		{"Last-Event-ID not a number", "", "abc", "Last-Event-ID"},
		{"Last-Event-ID beyond the log", "", "3", "Last-Event-ID"},
		{"Last-Event-ID below -1", "", "-2", "Last-Event-ID"},
		{"limit", "limit=5", "", "limit"},
		{"cursor", "cursor=1_01JGKRQ3M8V63QXKKD6T5A0000", "", "cursor"},
		{"unknown", "colour=red", "", "colour"},
		{"repeated", "user=a&user=b", "", "user"},
		{"bad date", "min-date=yesterday", "", "min-date"},
		{"bad kind", "resource-kind=Nope", "", "resource-kind"},
		{"account not UTF-8", "account=%ff", "", "account"},
		{"bad ip-address", "ip-address=192.0.2.300", "", "ip-address"},
		{"ip-address with host bits", "ip-address=192.0.2.1/24", "", "ip-address"},
		{"request-id not UTF-8", "request-id=%ff", "", "request-id"},
		{"unknown before repeated", "user=a&user=b&colour=red", "", "colour"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var header []string
			if tc.lastEventID != "" {
				header = []string{httpapi.LastEventIDHeader, tc.lastEventID}
			}
			c, res := open(t, ts.url+"?"+tc.query, header...)
			body, _ := io.ReadAll(res.Body)
			c.close()
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", res.StatusCode, body)
			}
			if got := res.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
			if msg := decodeErrors(t, body); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q does not name %q", msg, tc.want)
			}
		})
	}
}

// TestTailOptions checks that New refuses a tail of a store without a log,
// and that the tail is a route only when enabled.
func TestTailOptions(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	_, err := httpapi.New(struct{ auditevents.Store }{store}, &httpapi.Options{Tail: &httpapi.TailOptions{}})
	if !errors.Is(err, httpapi.ErrInvalidOptions) || !strings.Contains(err.Error(), "auditevents.Ledger") {
		t.Errorf("New with a store that is no Ledger: got %v, want ErrInvalidOptions naming auditevents.Ledger", err)
	}
	for _, tail := range []*httpapi.TailOptions{nil, {}} {
		h := newHandler(t, store, &httpapi.Options{Tail: tail})
		has := slices.ContainsFunc(h.Routes(), func(r httpapi.Route) bool { return r.Pattern == httpapi.TailPath })
		if has != (tail != nil) || (h.Tail() != nil) != (tail != nil) {
			t.Errorf("Tail %v: route %v, Tail() %v", tail, has, h.Tail())
		}
	}
}

// TestTailMaxConns checks that a tail beyond MaxConns is refused with 503,
// and that a tail that ends frees its place.
func TestTailMaxConns(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	ts := newTailServer(t, store, &httpapi.Options{Tail: &httpapi.TailOptions{MaxConns: 1}})
	c := connect(t, ts.url)
	c.next(t)
	_, res := open(t, ts.url)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("second tail: status %d, Retry-After %q; want 503 with Retry-After", res.StatusCode, res.Header.Get("Retry-After"))
	}
	<-ts.done // the refused request
	c.close()
	<-ts.done // the first tail, once it notices its client left
	connect(t, ts.url).next(t)
}

// smallBuffers makes a connection's socket buffers small, so that a client
// that stops reading stalls the server's writes after little data.
func smallBuffers(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
		_ = tc.SetWriteBuffer(4 << 10)
	}
}

type smallListener struct{ net.Listener }

func (l smallListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		smallBuffers(c)
	}
	return c, err
}

// TestTailSlowClient checks that a client that stops reading is dropped
// once a write has waited Options.WriteTimeout, and that writers append all
// the while, never waiting for it.
func TestTailSlowClient(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	logger, logs := newLogger(t)
	done := make(chan struct{})
	h := newHandler(t, store, &httpapi.Options{Logger: logger, WriteTimeout: 50 * time.Millisecond, Tail: &httpapi.TailOptions{Heartbeat: time.Hour}})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(done)
		h.Tail().ServeHTTP(w, r)
	}))
	srv.Listener = smallListener{srv.Listener}
	srv.Config.ErrorLog = discardLog()
	srv.Start()
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			smallBuffers(c)
		}
		return c, err
	}}}
	res, err := client.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	// Read nothing: append until the tail gives up on its client. Every
	// Append returns meanwhile, while the tail's writes wait.
	description := strings.Repeat("x", 2000)
	appended := 0
	for stalled := false; !stalled; {
		events := make([]auditevents.AuditEvent, 100)
		for i := range events {
			events[i] = auditevents.AuditEvent{User: "alice", Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, Description: description}
		}
		if err := auditevents.NewRecorder(store, nil).Record(context.Background(), events...); err != nil {
			t.Fatal(err)
		}
		appended += len(events)
		if appended > 500_000 {
			t.Fatal("the tail never dropped a client that reads nothing")
		}
		select {
		case <-done:
			stalled = true
		default:
		}
	}
	appendTo(t, store, "", "alice", auditevents.ActionCreated, 1) // and after
	if !strings.Contains(logs.String(), "i/o timeout") || strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("log %q: want the write's timeout, at debug level", logs)
	}
	// The client finds a broken stream, with fewer events than appended.
	body, err := io.ReadAll(res.Body)
	if err == nil {
		t.Error("reading the dropped stream: no error, want a broken transfer")
	}
	if n := strings.Count(string(body), "\ndata: "); n >= appended {
		t.Errorf("the dropped client got %d events of %d", n, appended)
	}
	t.Logf("appended %d events; the stalled client had %d bytes waiting", appended, len(body))
}

// TestTailDone checks that closing TailOptions.Done ends every tail
// cleanly, as a host shutting down does.
func TestTailDone(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	done := make(chan struct{})
	ts := newTailServer(t, store, &httpapi.Options{Tail: &httpapi.TailOptions{Done: done}})
	c := connect(t, ts.url)
	c.next(t)
	close(done)
	if rest, err := io.ReadAll(c.r); err != nil || len(rest) != 0 {
		t.Errorf("after Done: read %q, %v; want a clean end", rest, err)
	}
}
