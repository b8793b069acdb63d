package viewer_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/httpapi/viewer"
	"github.com/auditevents/auditevents/store/memstore"
)

func newAPI(tb testing.TB, opts *httpapi.Options) *httpapi.Handler {
	tb.Helper()
	store := memstore.New()
	tb.Cleanup(func() { store.Close() })
	api, err := httpapi.New(store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return api
}

// serve mounts v with Register on a ServeMux and answers one request.
func serve(tb testing.TB, v *viewer.Viewer, method, target string, header http.Header) *http.Response {
	tb.Helper()
	mux := http.NewServeMux()
	v.Register(mux)
	req := httptest.NewRequest(method, target, nil)
	for k, vs := range header {
		req.Header[k] = vs
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w.Result()
}

func body(tb testing.TB, resp *http.Response) string {
	tb.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestServe(t *testing.T) {
	v := viewer.Must(newAPI(t, nil), nil)
	tests := []struct {
		name, method, target string
		status               int
		contentType          string
		location             string
	}{
		{"page", "GET", "/v1/audit-events/viewer/", 200, "text/html; charset=utf-8", ""},
		{"page headers only", "HEAD", "/v1/audit-events/viewer/", 200, "text/html; charset=utf-8", ""},
		{"script", "GET", "/v1/audit-events/viewer/viewer.js", 200, "text/javascript; charset=utf-8", ""},
		{"stylesheet", "GET", "/v1/audit-events/viewer/viewer.css", 200, "text/css; charset=utf-8", ""},
		{"icon", "GET", "/v1/audit-events/viewer/favicon.svg", 200, "image/svg+xml", ""},
		{"unknown file", "GET", "/v1/audit-events/viewer/secrets.txt", 404, "", ""},
		{"index.html is not a name of the page", "GET", "/v1/audit-events/viewer/index.html", 404, "", ""},
		{"post", "POST", "/v1/audit-events/viewer/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := serve(t, v, tt.method, tt.target, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s: status %d, want %d", tt.method, tt.target, resp.StatusCode, tt.status)
			}
			if tt.contentType != "" {
				if got := resp.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("Content-Type %q, want %q", got, tt.contentType)
				}
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if tt.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("405 without Allow: GET, HEAD")
			}
		})
	}
}

// Mounted on a router that does not redirect by itself, the handler sends
// the page's path without its slash to the page, keeping the filters and
// any prefix stripped before it, so that the page's relative links
// resolve.
func TestRedirectToSlash(t *testing.T) {
	v := viewer.Must(newAPI(t, nil), nil)
	w := httptest.NewRecorder()
	v.ServeHTTP(w, httptest.NewRequest("GET", "/v1/audit-events/viewer?user=alice", nil))
	loc := w.Header().Get("Location")
	if w.Code != http.StatusMovedPermanently || loc != "viewer/?user=alice" {
		t.Fatalf("status %d, Location %q; want 301 to viewer/?user=alice", w.Code, loc)
	}
	// A browser resolves it against the URL it asked, prefix and all.
	base, _ := url.Parse("https://example.com/admin/v1/audit-events/viewer?user=alice")
	ref, _ := url.Parse(loc)
	if got, want := base.ResolveReference(ref).String(), "https://example.com/admin/v1/audit-events/viewer/?user=alice"; got != want {
		t.Errorf("the redirect leads to %s, want %s", got, want)
	}
}

// The policy lets the page run only its own script and style, talk only to
// its own origin, and be framed only by the host's pages.
func TestContentSecurityPolicy(t *testing.T) {
	v := viewer.Must(newAPI(t, nil), nil)
	csp := serve(t, v, "GET", "/v1/audit-events/viewer/", nil).Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
		"base-uri 'none'", "form-action 'none'", "frame-ancestors 'self'"} {
		if !strings.Contains(csp, want+";") && !strings.HasSuffix(csp, want) {
			t.Errorf("the policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") {
		t.Errorf("the policy %q allows something unsafe", csp)
	}

	v = viewer.Must(newAPI(t, nil), &viewer.Options{FrameAncestors: []string{"'self'", "https://admin.example.com"}})
	csp = serve(t, v, "GET", "/v1/audit-events/viewer/", nil).Header.Get("Content-Security-Policy")
	if !strings.HasSuffix(csp, "; frame-ancestors 'self' https://admin.example.com") {
		t.Errorf("with FrameAncestors set the policy is %q", csp)
	}
}

// The page carries no inline script or style, which the policy would
// block, and its script never parses text as markup.
func TestNoInlineCodeNorMarkupFromText(t *testing.T) {
	v := viewer.Must(newAPI(t, nil), &viewer.Options{KeyHeader: "X-Api-Key", SignInURL: "/login"})
	page := body(t, serve(t, v, "GET", "/v1/audit-events/viewer/", nil))
	for _, tag := range regexp.MustCompile(`(?i)<script[^>]*>`).FindAllString(page, -1) {
		if !strings.Contains(tag, " src=") {
			t.Errorf("the page holds an inline script: %s", tag)
		}
	}
	for _, re := range []string{`<style`, `\sstyle=`, `\son[a-z]+=`, `javascript:`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(page); m != "" {
			t.Errorf("the page holds inline code: %q", m)
		}
	}
	js := body(t, serve(t, v, "GET", "/v1/audit-events/viewer/viewer.js", nil))
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "setAttribute('style'", "setAttribute(\"style\""} {
		if strings.Contains(js, sink) {
			t.Errorf("viewer.js uses %s, which would turn text into markup or code", sink)
		}
	}
}

// The page, its script, stylesheet and icon together stay under 60 KB.
func TestPageWeight(t *testing.T) {
	v := viewer.Must(newAPI(t, nil), &viewer.Options{KeyHeader: "X-Api-Key"})
	total := 0
	for _, name := range []string{"", "viewer.js", "viewer.css", "favicon.svg"} {
		total += len(body(t, serve(t, v, "GET", "/v1/audit-events/viewer/"+name, nil)))
	}
	if total >= 60<<10 {
		t.Errorf("the page weighs %d bytes, over the budget of 60 KB", total)
	}
}

// The page is mounted under the handler's prefix, finds the API relative
// to itself, and shows the host's options as text.
func TestPageData(t *testing.T) {
	v := viewer.Must(newAPI(t, &httpapi.Options{Prefix: "/audit/", MaxLimit: 250}), &viewer.Options{
		Title:     `Audit <script>alert(1)</script>`,
		KeyHeader: "X-Bindplane-Api-Key",
		SignInURL: "/login?next=/audit",
	})
	if got, want := v.Path(), "/audit/audit-events/viewer/"; got != want {
		t.Fatalf("Path() = %q, want %q", got, want)
	}
	page := body(t, serve(t, v, "GET", "/audit/audit-events/viewer/", nil))
	for _, want := range []string{
		`data-list="../../audit-events"`, // from /audit/audit-events/viewer/
		`data-download="../../audit-events/download"`,
		`data-max-limit="250"`,
		`data-key-header="X-Bindplane-Api-Key"`,
		`<title>Audit &lt;script&gt;alert(1)&lt;/script&gt;</title>`,
		`href="/login?next=/audit"`,
		`<option>AgentVersion</option>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "<script>alert") {
		t.Error("the title was written as markup")
	}
}

// An unchanged asset is not sent again.
func TestRevalidation(t *testing.T) {
	v := viewer.Must(newAPI(t, nil), nil)
	first := serve(t, v, "GET", "/v1/audit-events/viewer/viewer.js", nil)
	etag := first.Header.Get("ETag")
	if etag == "" || first.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q", etag, first.Header.Get("Cache-Control"))
	}
	again := serve(t, v, "GET", "/v1/audit-events/viewer/viewer.js", http.Header{"If-None-Match": {etag}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("with If-None-Match of the current ETag: status %d, want 304", again.StatusCode)
	}
}

func TestInvalidOptions(t *testing.T) {
	api := newAPI(t, nil)
	tests := []struct {
		name string
		api  *httpapi.Handler
		opts viewer.Options
		want string // in the error
	}{
		{"no api", nil, viewer.Options{}, "api is nil"},
		{"header with a space", api, viewer.Options{KeyHeader: "X Api Key"}, "KeyHeader"},
		{"header with a newline", api, viewer.Options{KeyHeader: "X-Key\r\nSet-Cookie: a=b"}, "KeyHeader"},
		{"script URL", api, viewer.Options{SignInURL: "javascript:alert(1)"}, "SignInURL"},
		{"scheme-relative URL", api, viewer.Options{SignInURL: "//evil.example/login"}, "SignInURL"},
		{"relative path", api, viewer.Options{SignInURL: "login"}, "SignInURL"},
		{"no ancestors", api, viewer.Options{FrameAncestors: []string{}}, "FrameAncestors is empty"},
		{"ancestor adding a directive", api, viewer.Options{FrameAncestors: []string{"https://a.example; script-src *"}}, "FrameAncestors holds"},
		{"quoted keyword", api, viewer.Options{FrameAncestors: []string{"'unsafe-inline'"}}, "FrameAncestors holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := viewer.New(tt.api, &tt.opts)
			if !errors.Is(err, httpapi.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an ErrInvalidOptions naming %q", err, tt.want)
			}
		})
	}
}
