package httpapi_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents/httpapi"
)

// get fetches url and reads the whole body, returning the response (whose
// Trailer is then filled in), the body and the error that ended it.
func get(tb testing.TB, client *http.Client, method, url string) (*http.Response, []byte, error) {
	tb.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := client.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// announced reports whether res announces CountTrailer. Go's client moves
// the Trailer header of a response with a body into res.Trailer's keys.
func announced(res *http.Response) bool {
	_, inTrailer := res.Trailer[httpapi.CountTrailer]
	return inTrailer || res.Header.Get("Trailer") == httpapi.CountTrailer
}

// TestCountTrailer checks the contract a client relies on to know a
// response is complete: every 200 response to GET announces CountTrailer,
// and a complete body is followed by it, holding the number of events.
func TestCountTrailer(t *testing.T) {
	store, all := newStore(t, generated(3000)) // several flushes when streamed
	// One of the 50 users, who acts in dozens of the events.
	user := url.QueryEscape(all[0].User)
	for _, envelope := range []bool{false, true} {
		srv := httptest.NewServer(mux(newHandler(t, store, &httpapi.Options{Envelope: envelope})))
		t.Cleanup(srv.Close)
		for _, tt := range []struct {
			target string
			events int
		}{
			{"/v1/audit-events", len(all)},
			{"/v1/audit-events/download", len(all)},
			{"/v1/audit-events?user=nobody", 0},
			{"/v1/audit-events/download?user=nobody", 0},
			{"/v1/audit-events?limit=1000", 1000},
			{"/v1/audit-events/download?limit=7&user=" + user, 7},
		} {
			t.Run(tt.target+" envelope="+strconv.FormatBool(envelope), func(t *testing.T) {
				res, body, err := get(t, srv.Client(), http.MethodGet, srv.URL+tt.target)
				if err != nil || res.StatusCode != http.StatusOK {
					t.Fatalf("status %d, reading the body: %v", res.StatusCode, err)
				}
				if !announced(res) {
					t.Errorf("the response does not announce %s: header %v, trailer %v", httpapi.CountTrailer, res.Header, res.Trailer)
				}
				if got, want := res.Trailer.Get(httpapi.CountTrailer), strconv.Itoa(tt.events); got != want {
					t.Errorf("%s trailer: got %q, want %q (body of %d bytes)", httpapi.CountTrailer, got, want, len(body))
				}
				head, headBody, err := get(t, srv.Client(), http.MethodHead, srv.URL+tt.target)
				if err != nil || len(headBody) != 0 {
					t.Fatalf("HEAD: body %q, %v", headBody, err)
				}
				if !announced(head) {
					t.Errorf("HEAD does not announce %s as GET does: header %v", httpapi.CountTrailer, head.Header)
				}
			})
		}
	}
	t.Run("no trailer on errors", func(t *testing.T) {
		srv := httptest.NewServer(mux(newHandler(t, store, nil)))
		t.Cleanup(srv.Close)
		res, _, err := get(t, srv.Client(), http.MethodGet, srv.URL+"/v1/audit-events?limit=x")
		if err != nil || res.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, %v; want 400", res.StatusCode, err)
		}
		if announced(res) {
			t.Errorf("a 400 announces %s", httpapi.CountTrailer)
		}
	})
}

// recoverAll is middleware that recovers every panic and answers 500, as
// gin's Recovery and gorilla's RecoveryHandler do: once a response has
// begun, net/http then ends it cleanly unless the handler broke the
// connection itself.
func recoverAll(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// panicFlusher is a response writer whose Flush panics, as echo's does when
// a middleware wrapped with echo.WrapMiddleware gave it a writer that
// cannot flush.
type panicFlusher struct {
	http.ResponseWriter
}

func (w panicFlusher) Flush() { panic("response writer flushing is not supported") }

// TestFlushPanics checks that a Flush that panics does not cut the
// response: it goes on without flushing, complete, and the panic is logged
// once per Handler.
func TestFlushPanics(t *testing.T) {
	store, all := newStore(t, generated(2000))
	logger, logs := newLogger(t)
	h := mux(newHandler(t, store, &httpapi.Options{Logger: logger}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(panicFlusher{w}, r)
	}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download", "/v1/audit-events"} {
		res, body, err := get(t, srv.Client(), http.MethodGet, srv.URL+path)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, reading the body: %v", path, res.StatusCode, err)
		}
		n := 0
		if strings.HasSuffix(path, "download") {
			n = len(readCSV(t, body))
		} else {
			n = len(decodeEvents(t, body))
		}
		if n != len(all) || res.Trailer.Get(httpapi.CountTrailer) != strconv.Itoa(len(all)) {
			t.Errorf("%s: got %d events, trailer %q; want %d", path, n, res.Trailer.Get(httpapi.CountTrailer), len(all))
		}
	}
	if got := strings.Count(logs.String(), "Flush panicked"); got != 1 {
		t.Errorf("the panic was logged %d times, want once:\n%s", got, logs)
	}
	if !strings.Contains(logs.String(), "response writer flushing is not supported") {
		t.Errorf("log %q: want the panic's value", logs)
	}
}

// TestWriteTimeout checks both sides of Options.WriteTimeout: a client that
// stops reading is dropped, and a download that keeps moving outlasts the
// server's own WriteTimeout.
func TestWriteTimeout(t *testing.T) {
	t.Run("a client that stops reading is dropped", func(t *testing.T) {
		const total = 200_000 // about 60 MB of JSON: more than socket buffers hold
		store, _ := newStore(t, generated(total))
		wrapped := newWrapStore(store)
		logger, logs := newLogger(t)
		srv := httptest.NewServer(mux(newHandler(t, wrapped, &httpapi.Options{Logger: logger, WriteTimeout: 100 * time.Millisecond})))
		t.Cleanup(srv.Close)
		res, err := srv.Client().Get(srv.URL + "/v1/audit-events")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		// Read nothing more: the handler's writes block until the
		// deadline, and the response ends.
		<-wrapped.done
		if got := wrapped.yielded.Load(); got >= total {
			t.Errorf("events yielded: got %d, want fewer than %d", got, total)
		}
		if !strings.Contains(logs.String(), "i/o timeout") || strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("log %q: want the write's timeout, at debug level", logs)
		}
	})
	t.Run("a long download outlasts the server's WriteTimeout", func(t *testing.T) {
		store, all := newStore(t, generated(1200))
		wrapped := newWrapStore(store)
		wrapped.pauseAfter, wrapped.resume = 1000, make(chan struct{})
		const serverTimeout = 200 * time.Millisecond
		srv := httptest.NewUnstartedServer(mux(newHandler(t, wrapped, &httpapi.Options{WriteTimeout: time.Minute})))
		srv.Config.WriteTimeout = serverTimeout
		srv.Start()
		t.Cleanup(srv.Close)
		// The store pauses mid-download for longer than the server's
		// WriteTimeout: the time passing is what this test is about.
		timer := time.AfterFunc(2*serverTimeout, func() { close(wrapped.resume) })
		t.Cleanup(func() { timer.Stop() })
		res, body, err := get(t, srv.Client(), http.MethodGet, srv.URL+"/v1/audit-events/download")
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, reading the body: %v", res.StatusCode, err)
		}
		if got, want := len(readCSV(t, body)), len(all); got != want {
			t.Errorf("rows: got %d, want %d", got, want)
		}
		if got, want := res.Trailer.Get(httpapi.CountTrailer), strconv.Itoa(len(all)); got != want {
			t.Errorf("trailer: got %q, want %q", got, want)
		}
	})
}

// TestRoutes checks the routes a host mounts on other routers: the two
// endpoints, each the handler List or Download returns, and Register mounts
// them at Prefix plus their patterns.
func TestRoutes(t *testing.T) {
	store, _ := newStore(t, fixture())
	h := newHandler(t, store, &httpapi.Options{Prefix: "/api/v2/"})
	if got, want := h.Prefix(), "/api/v2"; got != want {
		t.Errorf("Prefix: got %q, want %q", got, want)
	}
	routes := h.Routes()
	want := []struct {
		method, pattern string
		handler         http.Handler
	}{
		{http.MethodGet, "/audit-events", h.List()},
		{http.MethodGet, "/audit-events/download", h.Download()},
	}
	if len(routes) != len(want) {
		t.Fatalf("Routes: got %d, want %d", len(routes), len(want))
	}
	rec := recordingMux{}
	h.Register(rec)
	for i, w := range want {
		rt := routes[i]
		if rt.Method != w.method || rt.Pattern != w.pattern || rt.Handler != w.handler {
			t.Errorf("route %d: got %s %s %T, want %s %s and the same handler", i, rt.Method, rt.Pattern, rt.Handler, w.method, w.pattern)
		}
		if got := rec[h.Prefix()+rt.Pattern]; got != rt.Handler {
			t.Errorf("Register mounted %v at %s, want the route's handler", got, h.Prefix()+rt.Pattern)
		}
	}
	if len(rec) != len(routes) {
		t.Errorf("Register mounted %d patterns, want %d", len(rec), len(routes))
	}
}

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// recordingMux is a Mux that records what is registered.
type recordingMux map[string]http.Handler

func (m recordingMux) Handle(pattern string, h http.Handler) { m[pattern] = h }
