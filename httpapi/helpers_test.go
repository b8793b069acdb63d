package httpapi_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"iter"
	"log/slog"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/auditevents/auditevents/store/storetest"
)

// t0 is the time of the oldest fixture event.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)

// fixture returns the events of the fixture store, oldest first, each one
// second after the previous, without IDs.
func fixture() []auditevents.AuditEvent {
	return []auditevents.AuditEvent{
		{User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindConfiguration, ResourceName: "prod", Configuration: "prod:1"},
		{User: "bob", Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, ResourceName: "prod", Configuration: "prod:2", Account: "acme"},
		{User: "alice", Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAgent, ResourceName: "agent-1", Account: "other"},
		{User: "bob", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindConfiguration, ResourceName: "production", Configuration: "production:1", Account: "acme"},
		{User: "Zoë 東京", Action: auditevents.ActionStarted, ResourceKind: auditevents.KindRollout, ResourceName: "prod", Configuration: "prod:2", Description: "=HYPERLINK(\"http://evil\")"},
		{User: "alice", Action: auditevents.ActionModified, ResourceKind: auditevents.KindUser, ResourceName: "+bob", Description: "<script>alert(1)</script>, \"quoted\"\nline"},
	}
}

// newStore returns a memstore holding events, stamped with IDs from a seeded
// source and, when they have none, timestamps one second apart from t0. It
// returns the stored events newest first, as queries return them.
func newStore(tb testing.TB, events []auditevents.AuditEvent) (*memstore.Store, []auditevents.AuditEvent) {
	tb.Helper()
	store := memstore.New()
	tb.Cleanup(func() { store.Close() })
	for i := range events {
		if events[i].Timestamp.IsZero() {
			events[i].Timestamp = t0.Add(time.Duration(i) * time.Second)
		}
	}
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return t0 },
		Entropy: rand.New(rand.NewSource(1)),
	})
	if err := rec.Record(context.Background(), events...); err != nil {
		tb.Fatalf("Record: %v", err)
	}
	all, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{}))
	if err != nil {
		tb.Fatalf("Query: %v", err)
	}
	return store, all
}

// generated returns n events of storetest's Generator (seed 1), oldest
// first, spread over a year, with their IDs: the realistic data every
// package of this module tests with.
func generated(n int) []auditevents.AuditEvent {
	return storetest.NewGenerator(1).Events(n)
}

func newHandler(tb testing.TB, store auditevents.Store, opts *httpapi.Options) *httpapi.Handler {
	tb.Helper()
	h, err := httpapi.New(store, opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return h
}

// mux returns a ServeMux with both endpoints of h registered.
func mux(h *httpapi.Handler) *http.ServeMux {
	m := http.NewServeMux()
	h.Register(m)
	return m
}

// do serves one request through handler and returns the recorded response.
func do(tb testing.TB, handler http.Handler, method, target string) *httptest.ResponseRecorder {
	tb.Helper()
	req := httptest.NewRequest(method, target, nil)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	return rec
}

// decodeEvents decodes a JSON array of events.
func decodeEvents(tb testing.TB, body []byte) []auditevents.AuditEvent {
	tb.Helper()
	var events []auditevents.AuditEvent
	if err := json.Unmarshal(body, &events); err != nil {
		tb.Fatalf("decoding %q: %v", truncate(body), err)
	}
	return events
}

// decodeErrors decodes an ErrorResponse, requiring exactly one message.
func decodeErrors(tb testing.TB, body []byte) string {
	tb.Helper()
	var resp struct {
		Errors []string `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		tb.Fatalf("decoding error response %q: %v", truncate(body), err)
	}
	if len(resp.Errors) != 1 {
		tb.Fatalf("error response %q: got %d messages, want 1", body, len(resp.Errors))
	}
	return resp.Errors[0]
}

// readCSV parses a CSV download, checks its header and returns its rows.
func readCSV(tb testing.TB, body []byte) [][]string {
	tb.Helper()
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		tb.Fatalf("parsing CSV %q: %v", truncate(body), err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != strings.Join(auditevents.CSVColumns(), ",") {
		tb.Fatalf("CSV header: got %q, want %q", rows, auditevents.CSVColumns())
	}
	return rows[1:]
}

func ids(events []auditevents.AuditEvent) []string {
	out := make([]string, len(events))
	for i := range events {
		out[i] = events[i].ID
	}
	return out
}

func truncate(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// logBuffer is a slog handler's output that tests read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func newLogger(tb testing.TB) (*slog.Logger, *logBuffer) {
	tb.Helper()
	var lb logBuffer
	return slog.New(slog.NewTextHandler(&lb, &slog.HandlerOptions{Level: slog.LevelDebug})), &lb
}

// wrapStore wraps a Store's Query: it counts the events yielded, can fail
// with err after failAfter events, can pause after pauseAfter events until
// resume is closed, and closes done when an iteration ends.
type wrapStore struct {
	auditevents.Store
	failAfter  int // negative: never
	err        error
	pauseAfter int // negative: never
	resume     chan struct{}

	yielded atomic.Int64
	done    chan struct{}
	once    sync.Once
}

func newWrapStore(inner auditevents.Store) *wrapStore {
	return &wrapStore{Store: inner, failAfter: -1, pauseAfter: -1, done: make(chan struct{})}
}

func (s *wrapStore) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		defer s.once.Do(func() { close(s.done) })
		n := 0
		for e, err := range s.Store.Query(ctx, q) {
			if n == s.failAfter {
				yield(auditevents.AuditEvent{}, s.err)
				return
			}
			if n == s.pauseAfter {
				<-s.resume
			}
			if !yield(e, err) || err != nil {
				return
			}
			n++
			s.yielded.Add(1)
		}
		if n == s.failAfter {
			yield(auditevents.AuditEvent{}, s.err)
		}
	}
}
