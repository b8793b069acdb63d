package forward_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
	"github.com/auditevents/auditevents/forward"
)

// testEvents returns n valid events, as a store returns them.
func testEvents(n int) []auditevents.AuditEvent {
	ids := []string{"01JGKRQ3M8V63QXKKD6T5AR6KF", "01JGKRQ3M8V63QXKKD6T5AR6KG", "01JGKRQ3M8V63QXKKD6T5AR6KH"}
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		events[i] = auditevents.AuditEvent{
			ID: ids[i%len(ids)], Timestamp: time.Date(2025, 1, 2, 15, 4, 5+i, 0, time.UTC),
			Account: "acme", User: "alice", Action: auditevents.ActionModified,
			ResourceKind: auditevents.KindConfiguration, ResourceName: "nginx", Configuration: "nginx:4",
			Description: "line one\nline two",
		}
	}
	return events
}

// request is what a test receiver saw of one request.
type request struct {
	path   string
	header http.Header
	body   []byte
}

// receiver is an HTTP endpoint in the test that records every request and
// answers with respond.
type receiver struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newReceiver(tb testing.TB, respond http.HandlerFunc) *receiver {
	tb.Helper()
	r := &receiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.requests = append(r.requests, request{req.URL.Path, req.Header.Clone(), body})
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(body))
		respond(w, req)
	}))
	tb.Cleanup(r.Close)
	return r
}

func (r *receiver) seen() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.requests...)
}

func newWebhook(tb testing.TB, url string, opts *forward.WebhookOptions) *forward.Webhook {
	tb.Helper()
	w, err := forward.NewWebhook(url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return w
}

// A delivered batch is one signed POST whose body is the events as JSON
// Lines, with the host's extra headers.
func TestWebhookDeliversSignedJSONLines(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1735830245, 0)
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	hook := newWebhook(t, rcv.URL+"/audit", &forward.WebhookOptions{
		Secret: secret,
		Header: http.Header{"Authorization": {"Bearer t0ken"}, "Content-Type": {"text/plain"}},
		Now:    func() time.Time { return now },
	})
	events := testEvents(3)
	if err := hook.Send(t.Context(), events); err != nil {
		t.Fatalf("Send = %v", err)
	}
	reqs := rcv.seen()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	req := reqs[0]
	if req.path != "/audit" {
		t.Errorf("path %q", req.path)
	}
	if got := req.header.Get("Content-Type"); got != "application/x-ndjson" {
		t.Errorf("Content-Type %q, want application/x-ndjson", got)
	}
	if got := req.header.Get("Authorization"); got != "Bearer t0ken" {
		t.Errorf("Authorization %q", got)
	}
	if err := forward.VerifySignature(secret, req.header.Get(forward.SignatureHeader), req.body, now, 0); err != nil {
		t.Errorf("signature: %v", err)
	}
	var got []auditevents.AuditEvent
	sc := bufio.NewScanner(bytes.NewReader(req.body))
	for sc.Scan() {
		var e auditevents.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		got = append(got, e)
	}
	if len(got) != len(events) {
		t.Fatalf("%d events received, want %d", len(got), len(events))
	}
	for i := range got {
		if !got[i].Equal(&events[i]) {
			t.Errorf("event %d = %+v, want %+v", i, got[i], events[i])
		}
	}
}

// With the CloudEvents encoder a batch is a JSON array in batched content
// mode; without a secret no signature is sent.
func TestWebhookCloudEventsBatch(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	hook := newWebhook(t, rcv.URL, &forward.WebhookOptions{
		Encoder: encode.CloudEvents{Source: "https://bindplane.example.com"},
		Header:  http.Header{forward.SignatureHeader: {"t=1,v1=forged"}},
	})
	events := testEvents(2)
	if err := hook.Send(t.Context(), events); err != nil {
		t.Fatal(err)
	}
	req := rcv.seen()[0]
	if got := req.header.Get("Content-Type"); got != "application/cloudevents-batch+json" {
		t.Errorf("Content-Type %q", got)
	}
	if got := req.header.Get(forward.SignatureHeader); got != "" {
		t.Errorf("signature %q sent without a secret", got)
	}
	var batch []struct {
		ID     string                 `json:"id"`
		Source string                 `json:"source"`
		Data   auditevents.AuditEvent `json:"data"`
	}
	if err := json.Unmarshal(req.body, &batch); err != nil {
		t.Fatal(err)
	}
	if len(batch) != 2 || batch[0].ID != events[0].ID || !batch[1].Data.Equal(&events[1]) || batch[0].Source != "https://bindplane.example.com" {
		t.Errorf("batch %+v", batch)
	}
}

// Each response status is acknowledged, permanent or retried as the
// Webhook documents, with the receiver's Retry-After delay.
func TestWebhookStatusClassification(t *testing.T) {
	now := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		permanent  bool
		after      time.Duration // -1: no Retry-After delay
	}{
		{"200 acknowledges", 200, "", false, -1},
		{"202 acknowledges", 202, "", false, -1},
		{"400 is permanent", 400, "", true, -1},
		{"401 is permanent", 401, "", true, -1},
		{"404 is permanent", 404, "", true, -1},
		{"413 is permanent", 413, "", true, -1},
		{"408 is retried", 408, "", false, -1},
		{"429 is retried after its seconds", 429, "120", false, 120 * time.Second},
		{"500 is retried", 500, "", false, -1},
		{"503 is retried after its date", 503, now.Add(90 * time.Second).Format(http.TimeFormat), false, 90 * time.Second},
		{"503 with a date past is retried now", 503, now.Add(-time.Hour).Format(http.TimeFormat), false, 0},
		{"503 with a garbled Retry-After", 503, "soon", false, -1},
		{"429 asking for years is capped", 429, "999999999999", false, 24 * time.Hour},
		{"an unfollowed redirect is retried", 302, "", false, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				io.WriteString(w, "receiver says\nno")
			})
			client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			hook := newWebhook(t, rcv.URL, &forward.WebhookOptions{Client: client, Now: func() time.Time { return now }})
			err := hook.Send(t.Context(), testEvents(1))
			if tc.status < 300 {
				if err != nil {
					t.Fatalf("Send = %v, want nil", err)
				}
				return
			}
			var se *forward.StatusError
			if !errors.As(err, &se) || se.StatusCode != tc.status || se.Body != "receiver says\nno" {
				t.Fatalf("Send = %v, want a StatusError %d with the body", err, tc.status)
			}
			if got := forward.IsPermanent(err); got != tc.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", got, tc.permanent, err)
			}
			after, ok := forward.RetryAfter(err)
			if tc.after < 0 && ok {
				t.Errorf("RetryAfter = %v, want none", after)
			}
			if tc.after >= 0 && (!ok || after != tc.after) {
				t.Errorf("RetryAfter = %v, %v; want %v", after, ok, tc.after)
			}
		})
	}
}

// A receiver that answers an error with an endless body costs the sink at
// most 64 KiB of reading, and the error repeats at most 512 bytes of it.
func TestWebhookBoundsResponseBody(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for range 1 << 10 { // 32 MiB, unless the client hangs up first
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	counter := &countingTransport{}
	hook := newWebhook(t, rcv.URL, &forward.WebhookOptions{Client: &http.Client{Transport: counter}})
	err := hook.Send(t.Context(), testEvents(1))
	var se *forward.StatusError
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Fatalf("Send = %v, want a StatusError 500", err)
	}
	if len(se.Body) != 512 {
		t.Errorf("error body is %d bytes, want 512", len(se.Body))
	}
	if n := counter.read.Load(); n > 64<<10 {
		t.Errorf("read %d bytes of the response body, want at most 64 KiB", n)
	}
	rcv.CloseClientConnections()
}

// countingTransport counts the bytes read from response bodies.
type countingTransport struct{ read atomic.Int64 }

func (c *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.read}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// A redirect that keeps the method (307) is followed with the body and the
// signature intact.
func TestWebhookFollowsTemporaryRedirect(t *testing.T) {
	secret := []byte("s3cret-s3cret-s3cret-s3cret-s3cr")
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/old" {
			http.Redirect(w, r, "/new", http.StatusTemporaryRedirect)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := forward.VerifySignature(secret, r.Header.Get(forward.SignatureHeader), body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
		}
	})
	hook := newWebhook(t, rcv.URL+"/old", &forward.WebhookOptions{Secret: secret})
	if err := hook.Send(t.Context(), testEvents(2)); err != nil {
		t.Fatal(err)
	}
	reqs := rcv.seen()
	if len(reqs) != 2 || reqs[1].path != "/new" || !bytes.Equal(reqs[0].body, reqs[1].body) {
		t.Errorf("requests %+v", reqs)
	}
}

// A receiver that cannot be reached is a failure worth retrying.
func TestWebhookNetworkFailureIsRetried(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	url := rcv.URL
	rcv.Close()
	err := newWebhook(t, url, nil).Send(t.Context(), testEvents(1))
	if err == nil || forward.IsPermanent(err) {
		t.Fatalf("Send = %v, want a retryable error", err)
	}
}

// Cancelling the context stops a request the receiver is holding, with the
// context's error.
func TestWebhookCancel(t *testing.T) {
	arrived := make(chan struct{})
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-arrived
		cancel()
	}()
	err := newWebhook(t, rcv.URL, nil).Send(ctx, testEvents(1))
	if !errors.Is(err, context.Canceled) || forward.IsPermanent(err) {
		t.Fatalf("Send = %v, want context.Canceled", err)
	}
}

// An empty batch sends nothing.
func TestWebhookEmptyBatch(t *testing.T) {
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {})
	if err := newWebhook(t, rcv.URL, nil).Send(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if n := len(rcv.seen()); n != 0 {
		t.Errorf("%d requests for an empty batch", n)
	}
}

// A URL that is not absolute http or https is refused when the Webhook is
// made, not at the first batch.
func TestNewWebhookRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "example.com/hook", "ftp://example.com/", "http://", "://x", "/relative"} {
		_, err := forward.NewWebhook(u, nil)
		if !errors.Is(err, forward.ErrInvalidOptions) || !strings.Contains(err.Error(), "http or https") {
			t.Errorf("NewWebhook(%q) = %v, want ErrInvalidOptions", u, err)
		}
	}
}
