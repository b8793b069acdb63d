package routers

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"iter"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	gin.DefaultErrorWriter = io.Discard // Recovery's report of the panics the tests cause
	log.SetOutput(io.Discard)           // gorilla's RecoveryHandler's
	os.Exit(m.Run())
}

// hosts are the routers under test, each mounting the API as its users
// would.
var hosts = []struct {
	name  string
	mount func(*httpapi.Handler) http.Handler
}{
	{"ServeMux", ServeMux},
	{"chi", Chi},
	{"gorilla-mux", GorillaMux},
	{"echo", func(api *httpapi.Handler) http.Handler { return Echo(api) }},
	{"gin", Gin},
	{"gin-catch-all", GinCatchAll},
}

const (
	listPath     = HostPrefix + "/v1/audit-events"
	downloadPath = listPath + "/download"
)

// newStore returns a memstore holding n events, and the events newest
// first, as queries return them.
func newStore(tb testing.TB, n int) (*memstore.Store, []auditevents.AuditEvent) {
	tb.Helper()
	store := memstore.New()
	tb.Cleanup(func() { store.Close() })
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	rec := auditevents.NewRecorder(store, nil)
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		events[i] = auditevents.AuditEvent{
			Timestamp:     t0.Add(time.Duration(i) * time.Second),
			User:          "user" + strconv.Itoa(i%5) + "@example.com",
			Action:        auditevents.ActionModified,
			ResourceKind:  auditevents.KindConfiguration,
			ResourceName:  "frontend",
			Configuration: "frontend:" + strconv.Itoa(i+1),
			Description:   "changed the configuration's processors and destinations",
		}
	}
	if err := rec.Record(context.Background(), events...); err != nil {
		tb.Fatal(err)
	}
	all, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{}))
	if err != nil {
		tb.Fatal(err)
	}
	return store, all
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newAPI(tb testing.TB, store auditevents.Store, opts *httpapi.Options) *httpapi.Handler {
	tb.Helper()
	api, err := httpapi.New(store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return api
}

// fetch sends one request and reads the whole body; the error is the one
// that ended the body.
func fetch(tb testing.TB, method, target string) (*http.Response, []byte, error) {
	tb.Helper()
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		tb.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res, body, err
}

// complete reports whether a 200 response was followed by the count
// trailer with n events, as every complete response is.
func complete(res *http.Response, n int) bool {
	return res.Trailer.Get(httpapi.CountTrailer) == strconv.Itoa(n)
}

func decodeErrors(tb testing.TB, body []byte) []string {
	tb.Helper()
	var e struct {
		Errors []string `json:"errors"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil || len(e.Errors) != 1 {
		tb.Fatalf("body %q is not the specification's ErrorResponse with one message (%v)", body, err)
	}
	return e.Errors
}

// TestRouters mounts the API on every router and checks what a client of
// the API relies on, the same everywhere.
func TestRouters(t *testing.T) {
	store, all := newStore(t, 2000) // several 32 KiB flushes when streamed
	for _, host := range hosts {
		t.Run(host.name, func(t *testing.T) {
			srv := httptest.NewServer(host.mount(newAPI(t, store, nil)))
			t.Cleanup(srv.Close)
			checkHost(t, srv.URL, srv.URL, all)
		})
	}
}

// TestBehindProxy puts a reverse proxy in front of every host that serves
// the API to its clients under /public instead of /api; the host sets
// Options.BaseURL, so that Link names the path clients use.
func TestBehindProxy(t *testing.T) {
	store, all := newStore(t, 100)
	for _, host := range hosts {
		t.Run(host.name, func(t *testing.T) {
			backend := httptest.NewServer(host.mount(newAPI(t, store, &httpapi.Options{BaseURL: "/public/v1"})))
			t.Cleanup(backend.Close)
			target, _ := url.Parse(backend.URL)
			proxy := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
				r.SetURL(target)
				r.Out.URL.Path = HostPrefix + strings.TrimPrefix(r.In.URL.Path, "/public")
				r.Out.URL.RawPath = ""
			}})
			t.Cleanup(proxy.Close)
			walk(t, proxy.URL, proxy.URL+"/public/v1/audit-events?limit=30", all, false)
		})
	}
}

// checkHost checks the API served at base+listPath by a host that holds
// the events all; links resolve against origin.
func checkHost(t *testing.T, base, origin string, all []auditevents.AuditEvent) {
	t.Run("GET", func(t *testing.T) {
		res, body, err := fetch(t, http.MethodGet, base+listPath)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, %v", res.StatusCode, err)
		}
		var events []auditevents.AuditEvent
		if err := json.Unmarshal(body, &events); err != nil || len(events) != len(all) {
			t.Fatalf("got %d events (%v), want %d", len(events), err, len(all))
		}
		if !complete(res, len(all)) {
			t.Errorf("trailer %v, want %s: %d", res.Trailer, httpapi.CountTrailer, len(all))
		}
	})
	t.Run("HEAD", func(t *testing.T) {
		for _, path := range []string{listPath, listPath + "?limit=5", downloadPath, downloadPath + "?user=nobody"} {
			get, _, _ := fetch(t, http.MethodGet, base+path)
			head, body, err := fetch(t, http.MethodHead, base+path)
			if err != nil || head.StatusCode != http.StatusOK || len(body) != 0 {
				t.Fatalf("HEAD %s: status %d, body %q, %v", path, head.StatusCode, body, err)
			}
			for _, name := range []string{"Content-Type", "Content-Disposition", "Link", "Cache-Control", "X-Content-Type-Options"} {
				if got, want := head.Header.Get(name), get.Header.Get(name); got != want && name != "Content-Disposition" {
					t.Errorf("HEAD %s: %s: got %q, want %q as GET", path, name, got, want)
				} else if name == "Content-Disposition" && (got == "") != (want == "") {
					t.Errorf("HEAD %s: %s: got %q, want one as GET has %q", path, name, got, want)
				}
			}
			if _, ok := get.Trailer[httpapi.CountTrailer]; !ok || head.Header.Get("Trailer") != httpapi.CountTrailer {
				t.Errorf("HEAD %s: Trailer %q, GET's %v: want both to announce %s", path, head.Header.Get("Trailer"), get.Trailer, httpapi.CountTrailer)
			}
		}
	})
	t.Run("405", func(t *testing.T) {
		for _, path := range []string{listPath, downloadPath} {
			for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
				res, body, err := fetch(t, method, base+path)
				if err != nil || res.StatusCode != http.StatusMethodNotAllowed {
					t.Fatalf("%s %s: status %d, %v; want 405", method, path, res.StatusCode, err)
				}
				if got, want := res.Header.Get("Allow"), "GET, HEAD"; got != want {
					t.Errorf("%s %s: Allow %q, want %q", method, path, got, want)
				}
				if msg := decodeErrors(t, body); msg[0] != "method not allowed; use GET or HEAD" {
					t.Errorf("%s %s: message %q", method, path, msg[0])
				}
			}
		}
	})
	t.Run("paging by Link", func(t *testing.T) {
		walk(t, origin, base+listPath+"?limit=300", all, false)
		walk(t, origin, base+downloadPath+"?limit=700", all, true)
	})
	t.Run("download", func(t *testing.T) {
		res, body, err := fetch(t, http.MethodGet, base+downloadPath)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("status %d, %v", res.StatusCode, err)
		}
		if got := res.Header.Get("Content-Disposition"); !strings.HasPrefix(got, "attachment;") {
			t.Errorf("Content-Disposition %q, want an attachment", got)
		}
		rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(rows) != len(all)+1 || rows[1][0] != all[0].ID {
			t.Fatalf("got %d rows (%v), want a header and %d events, newest first", len(rows), err, len(all))
		}
		if !complete(res, len(all)) {
			t.Errorf("trailer %v, want %s: %d", res.Trailer, httpapi.CountTrailer, len(all))
		}
	})
	t.Run("bad input", func(t *testing.T) {
		for _, tt := range []struct{ query, want string }{
			{"user=%FF%FE", `invalid user "\xff\xfe": must be valid UTF-8`},
			{"configuration-name=frontend%00", `invalid configuration-name "frontend\x00": must not contain a NUL byte`},
			{"usr=alice", `invalid parameter "usr": unknown`},
			{"limit=0", `invalid limit "0"`},
		} {
			res, body, err := fetch(t, http.MethodGet, base+listPath+"?"+tt.query)
			if err != nil || res.StatusCode != http.StatusBadRequest {
				t.Fatalf("%s: status %d, %v; want 400", tt.query, res.StatusCode, err)
			}
			if msg := decodeErrors(t, body); !strings.HasPrefix(msg[0], tt.want) {
				t.Errorf("%s: message %q, want it to start with %q", tt.query, msg[0], tt.want)
			}
		}
	})
	t.Run("host routes beside the API", func(t *testing.T) {
		for _, path := range []string{HostPrefix + "/v1/widgets", HostPrefix + "/v1/audit-events-old", HostPrefix + "/other", "/v1/audit-events"} {
			res, _, _ := fetch(t, http.MethodGet, base+path)
			if res.StatusCode != http.StatusNotFound || res.Header.Get(HostHeader) != "catch-all" {
				t.Errorf("GET %s: status %d, %s %q; want the host's catch-all", path, res.StatusCode, HostHeader, res.Header.Get(HostHeader))
			}
		}
	})
}

// walk follows Link from first to the last page, resolving each link
// against origin as a client does, and checks that the pages hold every
// event once, in order, each page complete.
func walk(t *testing.T, origin, first string, all []auditevents.AuditEvent, csvPages bool) {
	t.Helper()
	base, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	next := first
	for pages := 0; next != ""; pages++ {
		if pages > len(all) {
			t.Fatal("more pages than events")
		}
		res, body, err := fetch(t, http.MethodGet, next)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d, %v: %.200s", next, res.StatusCode, err, body)
		}
		var page []string
		if csvPages {
			rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
			if err != nil || len(rows) == 0 {
				t.Fatalf("GET %s: %v", next, err)
			}
			for _, row := range rows[1:] {
				page = append(page, row[0])
			}
		} else {
			var events []auditevents.AuditEvent
			if err := json.Unmarshal(body, &events); err != nil {
				t.Fatalf("GET %s: %v", next, err)
			}
			for _, e := range events {
				page = append(page, e.ID)
			}
		}
		if !complete(res, len(page)) {
			t.Errorf("GET %s: trailer %v, want %s: %d", next, res.Trailer, httpapi.CountTrailer, len(page))
		}
		got = append(got, page...)
		next = ""
		if link := res.Header.Get("Link"); link != "" {
			ref, ok := strings.CutSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
			u, err := url.Parse(ref)
			if !ok || err != nil {
				t.Fatalf("Link %q: %v", link, err)
			}
			next = base.ResolveReference(u).String()
		}
	}
	if len(got) != len(all) {
		t.Fatalf("pages hold %d events, want %d", len(got), len(all))
	}
	for i := range all {
		if got[i] != all[i].ID {
			t.Fatalf("event %d of the pages is %s, want %s", i, got[i], all[i].ID)
		}
	}
}

// failingStore fails its queries after yielding failAfter events, as a
// database that goes away mid-response does.
type failingStore struct {
	auditevents.Store
	failAfter int
}

var errDatabaseDown = errors.New("connection to the database lost")

func (s failingStore) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		n := 0
		for e, err := range s.Store.Query(ctx, q) {
			if n == s.failAfter {
				yield(auditevents.AuditEvent{}, errDatabaseDown)
				return
			}
			if !yield(e, err) || err != nil {
				return
			}
			n++
		}
	}
}

// TestStoreFailsMidStream checks that a store that fails after the body has
// begun never gives the client a response it can take for complete, behind
// every router's recovering middleware (gin's Recovery and gorilla's
// RecoveryHandler swallow the handler's panic): the transfer breaks, and no
// count trailer follows.
func TestStoreFailsMidStream(t *testing.T) {
	store, _ := newStore(t, 2000)
	quiet := log.New(io.Discard, "", 0)
	for _, host := range hosts {
		for _, path := range []string{listPath, downloadPath} {
			t.Run(host.name+path, func(t *testing.T) {
				api := newAPI(t, failingStore{store, 1500}, &httpapi.Options{Logger: discardLogger()})
				srv := httptest.NewUnstartedServer(host.mount(api))
				srv.Config.ErrorLog = quiet // a recovering middleware's WriteHeader on the closed connection
				srv.Start()
				t.Cleanup(srv.Close)
				res, body, err := fetch(t, http.MethodGet, srv.URL+path)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("status %d, want 200 (sent before the failure)", res.StatusCode)
				}
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("reading the body: got %v after %d bytes, want %v", err, len(body), io.ErrUnexpectedEOF)
				}
				if got, ok := res.Trailer[httpapi.CountTrailer]; !ok || len(got) != 0 {
					t.Errorf("trailer %v: want %s announced and never sent", res.Trailer, httpapi.CountTrailer)
				}
			})
		}
	}
}

// noFlush is net/http middleware whose response writer cannot flush and
// does not unwrap, as many older middlewares' writers do. Wrapped with
// echo.WrapMiddleware, it makes echo's Response.Flush panic.
func noFlush(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(struct{ http.ResponseWriter }{w}, r)
	})
}

// TestEchoWriterWithoutFlush checks that a list far over 32 KiB is served
// whole through echo with a net/http middleware whose writer cannot flush:
// echo's Flush panics, and the handler goes on without flushing.
func TestEchoWriterWithoutFlush(t *testing.T) {
	store, all := newStore(t, 2000)
	srv := httptest.NewServer(Echo(newAPI(t, store, &httpapi.Options{Logger: discardLogger()}), noFlush))
	t.Cleanup(srv.Close)
	for _, path := range []string{listPath, downloadPath} {
		res, body, err := fetch(t, http.MethodGet, srv.URL+path)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, %v after %d bytes", path, res.StatusCode, err, len(body))
		}
		if len(body) < 64<<10 || !complete(res, len(all)) {
			t.Errorf("%s: %d bytes, trailer %v; want the whole body of %d events", path, len(body), res.Trailer, len(all))
		}
	}
	// The whole check, through the middleware.
	checkHost(t, srv.URL, srv.URL, all)
}
