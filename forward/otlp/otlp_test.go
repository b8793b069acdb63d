package otlp_test

import (
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/forward/otlp"
)

// hostile holds what a text field may: line breaks, quotes, control
// characters and non-ASCII text.
const hostile = "a\nb\r\"c\\d|e=f\tg\x1bh<i>&j\u2028k é日本"

// testEvents returns valid events: one with every field of the spec, one
// with the optional fields empty, one hostile, one with every actor field
// and one with an address only.
func testEvents(tb testing.TB) []auditevents.AuditEvent {
	tb.Helper()
	ts := time.Date(2025, 1, 2, 15, 4, 5, 123456000, time.UTC)
	events := []auditevents.AuditEvent{{
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KF", Timestamp: ts, Account: "acme", User: "alice@example.com",
		Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration,
		ResourceName: "nginx", Configuration: "nginx:4", Description: "Modified configuration nginx",
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KG", Timestamp: ts.Add(time.Second), User: "bob",
		Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAPIKey,
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KH", Timestamp: ts.Add(2 * time.Second), Account: hostile, User: hostile,
		Action: hostile, ResourceKind: auditevents.KindUser, ResourceName: hostile,
		Configuration: hostile, Description: hostile,
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KJ", Timestamp: ts.Add(3 * time.Second), Account: "acme", User: "carol",
		Action: auditevents.ActionCreated, ResourceKind: auditevents.KindConfiguration, ResourceName: "redis",
		IPAddress: "2001:db8::7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		RequestID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Metadata:  map[string]string{"session": "s-42", "region": "eu-west-1", "client.version": hostile},
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KK", Timestamp: ts.Add(4 * time.Second), User: "dave",
		Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAgent, IPAddress: "192.0.2.7",
	}}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			tb.Fatalf("test event %d: %v", i, err)
		}
	}
	return events
}

// collector is an OTLP/HTTP logs receiver in the test: it decodes each
// request with the official OTLP types and answers with respond.
type collector struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*collogpb.ExportLogsServiceRequest
	headers  []http.Header
}

func newCollector(tb testing.TB, respond func(w http.ResponseWriter)) *collector {
	tb.Helper()
	c := &collector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/logs" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/logs application/x-protobuf, got "+r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"), http.StatusNotFound)
			return
		}
		body := io.Reader(r.Body)
		if r.Header.Get("Content-Encoding") == "gzip" {
			gz, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = gz
		}
		raw, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req := &collogpb.ExportLogsServiceRequest{}
		if err := proto.Unmarshal(raw, req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.requests = append(c.requests, req)
		c.headers = append(c.headers, r.Header.Clone())
		c.mu.Unlock()
		respond(w)
	}))
	tb.Cleanup(c.Close)
	return c
}

func (c *collector) received() ([]*collogpb.ExportLogsServiceRequest, []http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*collogpb.ExportLogsServiceRequest(nil), c.requests...), append([]http.Header(nil), c.headers...)
}

// acknowledge answers as a collector that accepted everything.
func acknowledge(w http.ResponseWriter) {
	out, _ := proto.Marshal(&collogpb.ExportLogsServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func newSink(tb testing.TB, opts *otlp.Options) *otlp.Sink {
	tb.Helper()
	s, err := otlp.New(tb.Context(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// Every field of every record, as the collector decodes it, is what the
// package documentation maps from the event.
func TestSendMapsEveryField(t *testing.T) {
	now := time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name         string
		opts         otlp.Options
		wantResource map[string]string
	}{
		{"defaults", otlp.Options{}, map[string]string{"service.name": "auditevents"}},
		{"gzip, headers and a resource", otlp.Options{
			Gzip:     true,
			Headers:  map[string]string{"Api-Key": "k3y"},
			Resource: resource.NewSchemaless(attribute.String("service.name", "bindplane"), attribute.String("host.name", "bp-1")),
		}, map[string]string{"service.name": "bindplane", "host.name": "bp-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, acknowledge)
			opts := tc.opts
			opts.Endpoint = c.URL // no path: /v1/logs is added
			opts.Now = func() time.Time { return now }
			events := testEvents(t)
			if err := newSink(t, &opts).Send(t.Context(), events); err != nil {
				t.Fatalf("Send = %v", err)
			}
			reqs, headers := c.received()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			for k, v := range opts.Headers {
				if got := headers[0].Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tc.opts.Gzip && headers[0].Get("Content-Encoding") != "gzip" {
				t.Errorf("Content-Encoding %q, want gzip", headers[0].Get("Content-Encoding"))
			}
			rls := reqs[0].ResourceLogs
			if len(rls) != 1 || len(rls[0].ScopeLogs) != 1 {
				t.Fatalf("%d resource logs, want 1 with 1 scope", len(rls))
			}
			if got := stringAttrs(t, rls[0].Resource.Attributes); !equalMaps(got, tc.wantResource) {
				t.Errorf("resource attributes %v, want %v", got, tc.wantResource)
			}
			scope := rls[0].ScopeLogs[0]
			if scope.Scope.GetName() != "github.com/auditevents/auditevents/forward/otlp" {
				t.Errorf("scope %q", scope.Scope.GetName())
			}
			if len(scope.LogRecords) != len(events) {
				t.Fatalf("%d records, want %d", len(scope.LogRecords), len(events))
			}
			for i, r := range scope.LogRecords {
				checkRecord(t, i, r, events[i], now)
			}
		})
	}
}

// checkRecord compares one record with the mapping of the package
// documentation, written out here independently.
func checkRecord(tb testing.TB, i int, r *logspb.LogRecord, e auditevents.AuditEvent, observed time.Time) {
	tb.Helper()
	if got, want := r.TimeUnixNano, uint64(e.Timestamp.UnixNano()); got != want {
		tb.Errorf("record %d: time %d, want %d", i, got, want)
	}
	if got, want := r.ObservedTimeUnixNano, uint64(observed.UnixNano()); got != want {
		tb.Errorf("record %d: observed time %d, want %d", i, got, want)
	}
	if r.SeverityNumber != logspb.SeverityNumber_SEVERITY_NUMBER_INFO || r.SeverityText != "INFO" {
		tb.Errorf("record %d: severity %v %q, want INFO", i, r.SeverityNumber, r.SeverityText)
	}
	if r.EventName != "auditevents.audit_event" {
		tb.Errorf("record %d: event name %q", i, r.EventName)
	}
	switch {
	case e.Description == "" && r.Body.GetValue() != nil:
		tb.Errorf("record %d: body %v, want none", i, r.Body)
	case e.Description != "" && r.Body.GetStringValue() != e.Description:
		tb.Errorf("record %d: body %v, want %q", i, r.Body, e.Description)
	}
	want := map[string]string{
		"log.record.uid":            e.ID,
		"user.name":                 e.User,
		"auditevents.action":        string(e.Action),
		"auditevents.resource.kind": string(e.ResourceKind),
	}
	for k, v := range map[string]string{
		"auditevents.account":       e.Account,
		"auditevents.resource.name": e.ResourceName,
		"auditevents.configuration": e.Configuration,
		"client.address":            e.IPAddress,
		"user_agent.original":       e.UserAgent,
		"auditevents.request.id":    e.RequestID,
	} {
		if v != "" {
			want[k] = v
		}
	}
	for k, v := range e.Metadata {
		want["auditevents.metadata."+k] = v
	}
	if got := stringAttrs(tb, r.Attributes); !equalMaps(got, want) {
		tb.Errorf("record %d: attributes\n got %q\nwant %q", i, got, want)
	}
	if r.DroppedAttributesCount != 0 || r.Flags != 0 || len(r.TraceId) != 0 || len(r.SpanId) != 0 {
		tb.Errorf("record %d: dropped %d, flags %d, trace %x, span %x; want none", i, r.DroppedAttributesCount, r.Flags, r.TraceId, r.SpanId)
	}
}

// stringAttrs returns attributes as a map, failing on a duplicate key or a
// value that is not a string.
func stringAttrs(tb testing.TB, kvs []*commonpb.KeyValue) map[string]string {
	tb.Helper()
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		if _, dup := m[kv.Key]; dup {
			tb.Errorf("attribute %q twice", kv.Key)
		}
		sv, ok := kv.Value.GetValue().(*commonpb.AnyValue_StringValue)
		if !ok {
			tb.Errorf("attribute %q is %T, want a string", kv.Key, kv.Value.GetValue())
			continue
		}
		m[kv.Key] = sv.StringValue
	}
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Each failure is permanent or retried as the forward package's sinks
// classify them, after a single request.
func TestSendClassifiesFailures(t *testing.T) {
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		permanent  bool
		after      time.Duration // -1: none
	}{
		{"400 is permanent", 400, "", true, -1},
		{"401 is permanent", 401, "", true, -1},
		{"429 is retried after its delay", 429, "7", false, 7 * time.Second},
		{"500 is retried", 500, "", false, -1},
		{"503 is retried after its delay", 503, "30", false, 30 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCollector(t, func(w http.ResponseWriter) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				http.Error(w, "collector says no", tc.status)
			})
			err := newSink(t, &otlp.Options{Endpoint: c.URL + "/v1/logs"}).Send(t.Context(), testEvents(t))
			if err == nil {
				t.Fatal("Send = nil, want an error")
			}
			if got := forward.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tc.permanent, err)
			}
			after, ok := forward.RetryAfter(err)
			if tc.after < 0 && ok || tc.after >= 0 && (!ok || after != tc.after) {
				t.Errorf("RetryAfter = %v, %v; want %v", after, ok, tc.after)
			}
			if reqs, _ := c.received(); len(reqs) != 1 {
				t.Errorf("%d requests, want 1: the sink leaves retries to its caller", len(reqs))
			}
		})
	}
}

// A collector that cannot be reached is a failure worth retrying.
func TestSendUnreachable(t *testing.T) {
	c := newCollector(t, acknowledge)
	url := c.URL
	c.Close()
	err := newSink(t, &otlp.Options{Endpoint: url}).Send(t.Context(), testEvents(t))
	if err == nil || forward.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
}

// Cancelling the context stops an export the collector is holding.
func TestSendCancel(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	c := newCollector(t, func(w http.ResponseWriter) {
		close(arrived)
		<-release
	})
	defer close(release)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	err := newSink(t, &otlp.Options{Endpoint: c.URL}).Send(ctx, testEvents(t))
	if !errors.Is(err, context.Canceled) || forward.IsPermanent(err) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
}

// An endpoint that is not an absolute http or https URL is refused by New.
func TestNewRefusesBadEndpoint(t *testing.T) {
	for _, u := range []string{"localhost:4318", "ftp://collector/", "http://", "/v1/logs"} {
		_, err := otlp.New(t.Context(), &otlp.Options{Endpoint: u})
		if !errors.Is(err, forward.ErrInvalidOptions) || !strings.Contains(err.Error(), "http or https") {
			t.Errorf("New(%q) = %v, want ErrInvalidOptions", u, err)
		}
	}
}

// After Shutdown, Send fails instead of dropping events silently.
func TestSendAfterShutdown(t *testing.T) {
	c := newCollector(t, acknowledge)
	s := newSink(t, &otlp.Options{Endpoint: c.URL})
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(t.Context(), testEvents(t)); !errors.Is(err, otlp.ErrShutdown) {
		t.Fatalf("Send after Shutdown = %v, want ErrShutdown", err)
	}
	if reqs, _ := c.received(); len(reqs) != 0 {
		t.Errorf("%d requests after Shutdown", len(reqs))
	}
}
