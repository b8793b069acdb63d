// Package viewer serves a page for reading the audit trail in a browser:
// a table of events, newest first, with filters kept in the page's URL, a
// histogram of events over time, a detail panel for one event and a CSV
// export. It is one HTML page with its stylesheet and script, embedded in
// the binary; it needs no build step and loads nothing from elsewhere.
//
// The page holds no data of its own. Its script reads the events from the
// list and download endpoints of an [httpapi.Handler], with the browser's
// credentials, so the handler's [httpapi.Options.Authorize] scopes what the
// page shows exactly as it scopes the API: each caller sees only its
// account. Mount the page beside the endpoints in one line:
//
//	viewer.Must(api, nil).Register(mux) // GET /v1/audit-events/viewer/
//
// # Credentials
//
// The page sends what the host's Authorize reads. Cookies of the page's
// origin go with every request, so a host whose users sign in with a
// session cookie needs nothing more (set [Options.SignInURL] to link to
// its sign-in page from the "not signed in" message). A host whose
// Authorize reads an API key from a header sets [Options.KeyHeader]: the
// page then asks for the key in a form, keeps it in the tab's
// sessionStorage (never in the URL, never in a cookie) and sends it in that
// header.
//
// # Security
//
// Every field of every event is written into the page as text, never as
// markup, and invisible characters that reorder or hide text (such as
// U+202E RIGHT-TO-LEFT OVERRIDE) are shown by their code point. Responses
// carry a Content-Security-Policy that allows scripts, styles and requests
// only from the page's own origin and no inline script or style, and whose
// frame-ancestors directive is [Options.FrameAncestors]; and
// X-Content-Type-Options: nosniff and Referrer-Policy: no-referrer.
package viewer

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
)

// Path is where [Viewer.Register] mounts the page, below the handler's
// prefix: "/v1/audit-events/viewer/" by default.
const Path = httpapi.ListPath + "/viewer/"

// Options configures a [Viewer]. The zero value, like a nil *Options, means
// the defaults given for each field.
type Options struct {
	// Title is the page's heading and the title of its tab. Defaults to
	// "Audit events".
	Title string

	// KeyHeader, when set, is the request header in which the host's
	// Authorize reads an API key, such as "X-Bindplane-Api-Key". The page
	// then shows a sign-in form that asks for the key, keeps it in the
	// tab's sessionStorage, and sends it in this header with every request.
	// When empty, the page sends only the cookies of its origin.
	KeyHeader string

	// SignInURL, when set, is linked from the page's "not signed in"
	// message: the host's own sign-in page, for hosts whose Authorize reads
	// a session cookie. It must be a path starting with "/" or an http or
	// https URL.
	SignInURL string

	// FrameAncestors lists the sources that may show the page in a frame,
	// as the Content-Security-Policy frame-ancestors directive takes them:
	// "'self'", "'none'", a scheme such as "https:", or a host such as
	// "https://admin.example.com". Nil means "'self'": the host's own pages
	// may frame it, other sites may not.
	FrameAncestors []string
}

//go:embed assets
var assets embed.FS

var pageTemplate = template.Must(template.ParseFS(assets, "assets/index.html"))

// Viewer serves the page and its assets. Create it with [New]; it is an
// http.Handler that answers a path ending in "/" with the page and
// "viewer.js", "viewer.css" and "favicon.svg" below it with the assets.
//
// The page finds the endpoints relative to its own URL, two levels up, as
// [Path] is below the API's prefix: mount it at [Viewer.Path] on the mux
// that serves the API, as [Viewer.Register] does, and it works wherever
// that mux is served, under http.StripPrefix or behind a proxy that adds
// a path.
//
// A Viewer is safe for concurrent use; it does not change after New.
type Viewer struct {
	path  string
	csp   string
	files map[string]file // by the last element of the path; "" is the page
}

// file is one response body, ready to serve.
type file struct {
	body        []byte
	contentType string
	etag        string
}

// New returns a Viewer of the events that api serves. opts may be nil. It
// returns an error wrapping [httpapi.ErrInvalidOptions] when api is nil or
// an option holds a value the page cannot use, naming the option.
func New(api *httpapi.Handler, opts *Options) (*Viewer, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: viewer: api is nil", httpapi.ErrInvalidOptions)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Title == "" {
		o.Title = "Audit events"
	}
	if o.KeyHeader != "" && !validToken(o.KeyHeader) {
		return nil, fmt.Errorf("%w: viewer: KeyHeader %q is not a header name", httpapi.ErrInvalidOptions, o.KeyHeader)
	}
	if o.SignInURL != "" && !validSignInURL(o.SignInURL) {
		return nil, fmt.Errorf("%w: viewer: SignInURL %q must be a path starting with \"/\" or an http or https URL", httpapi.ErrInvalidOptions, o.SignInURL)
	}
	ancestors := o.FrameAncestors
	if ancestors == nil {
		ancestors = []string{"'self'"}
	}
	if len(ancestors) == 0 {
		return nil, fmt.Errorf("%w: viewer: FrameAncestors is empty; use \"'none'\" to forbid every frame", httpapi.ErrInvalidOptions)
	}
	for _, a := range ancestors {
		if !validSource(a) {
			return nil, fmt.Errorf("%w: viewer: FrameAncestors holds %q, which is not a CSP source such as 'self', https: or https://admin.example.com", httpapi.ErrInvalidOptions, a)
		}
	}

	var page bytes.Buffer
	err := pageTemplate.Execute(&page, pageData{
		Title:     o.Title,
		List:      "../.." + httpapi.ListPath,
		Download:  "../.." + httpapi.DownloadPath,
		MaxLimit:  api.MaxLimit(),
		KeyHeader: o.KeyHeader,
		SignInURL: o.SignInURL,
		Filters:   filters(),
	})
	if err != nil { // cannot happen: the template and its data are fixed
		return nil, fmt.Errorf("viewer: rendering the page: %w", err)
	}
	v := &Viewer{
		path: api.Prefix() + Path,
		csp: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
			"base-uri 'none'; form-action 'none'; frame-ancestors " + strings.Join(ancestors, " "),
		files: map[string]file{"": newFile(page.Bytes(), "text/html; charset=utf-8")},
	}
	for name, typ := range map[string]string{
		"viewer.js":   "text/javascript; charset=utf-8",
		"viewer.css":  "text/css; charset=utf-8",
		"favicon.svg": "image/svg+xml",
	} {
		b, err := assets.ReadFile("assets/" + name)
		if err != nil { // cannot happen: the files are embedded
			return nil, fmt.Errorf("viewer: %w", err)
		}
		v.files[name] = newFile(b, typ)
	}
	return v, nil
}

// Must is like [New] but panics when New returns an error. It suits
// options fixed in the program's source, where an error is a bug.
func Must(api *httpapi.Handler, opts *Options) *Viewer {
	v, err := New(api, opts)
	if err != nil {
		panic(err)
	}
	return v
}

func newFile(body []byte, contentType string) file {
	sum := sha256.Sum256(body)
	return file{body: body, contentType: contentType, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// Path returns the path [Viewer.Register] mounts the page at: the API's
// prefix followed by [Path], such as "/v1/audit-events/viewer/".
func (v *Viewer) Path() string { return v.path }

// Register mounts the page and its assets on mux at [Viewer.Path]. The
// pattern carries no method; the handler answers methods other than GET
// and HEAD with 405 itself.
func (v *Viewer) Register(mux httpapi.Mux) { mux.Handle(v.path, v) }

// ServeHTTP answers GET and HEAD of the page or one of its assets, chosen
// by the last element of the request's path; any other element gets 404.
// A path that is [Viewer.Path] without its final "/" is redirected to it
// (by a Location relative to the request, so that a prefix stripped before
// the handler is kept), so that the page's relative links resolve.
func (v *Viewer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("Content-Security-Policy", v.csp)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed; use GET or HEAD", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Path == strings.TrimSuffix(v.path, "/") {
		// Relative to the request's URL, which may hold a prefix this
		// handler does not see (http.StripPrefix, a proxy).
		target := "viewer/"
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		hdr.Set("Location", target)
		w.WriteHeader(http.StatusMovedPermanently)
		return
	}
	name := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	f, ok := v.files[name]
	if !ok {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("ETag", f.etag)
	hdr.Set("Cache-Control", "no-cache") // revalidate, so an upgrade shows at once
	if name == "" {
		hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.body))
}

// pageData fills assets/index.html.
type pageData struct {
	Title string
	// List and Download are the endpoints' URLs relative to the page's,
	// which is [Path] below the same prefix: so the page finds them
	// wherever the host serves the whole, under http.StripPrefix or behind
	// a proxy that adds a path.
	List, Download string
	MaxLimit       int
	KeyHeader      string
	SignInURL      string
	Filters        []filter
}

// filter is one of the page's filters: a query parameter of the list
// endpoint and the form field that sets it. The page's script reads every
// field of the filter form by its name, so a filter for a new parameter
// needs only a line in [filters].
type filter struct {
	Param       string   // the query parameter, the field's name
	Label       string   // the field's visible label
	Placeholder string   // an example of a value
	Choices     []string // when set, a select of these values
	Suggestions []string // when set, a free text field suggesting these
}

// filters returns the page's filters beside the date range, in the order
// shown: the actor's IP address (an address or a network) and request ID
// among them. A filter for a parameter the list endpoint gains is one more
// line here; the page's script needs no change, and shows every field of
// an event in its detail panel already.
func filters() []filter {
	var kinds []string
	for _, k := range auditevents.Kinds() {
		kinds = append(kinds, string(k))
	}
	actions := []string{}
	for _, a := range []auditevents.Action{
		auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted,
		auditevents.ActionPending, auditevents.ActionStarted, auditevents.ActionPaused, auditevents.ActionResumed,
	} {
		actions = append(actions, string(a))
	}
	return []filter{
		{Param: auditevents.ParamUser, Label: "User", Placeholder: "alice@example.com"},
		{Param: auditevents.ParamAction, Label: "Action", Placeholder: "Modified", Suggestions: actions},
		{Param: auditevents.ParamResourceKind, Label: "Kind", Choices: kinds},
		{Param: auditevents.ParamResourceName, Label: "Resource", Placeholder: "name"},
		{Param: auditevents.ParamConfigurationName, Label: "Configuration", Placeholder: "name or name:version"},
		{Param: auditevents.ParamIPAddress, Label: "IP address", Placeholder: "192.0.2.7 or 192.0.2.0/24"},
		{Param: auditevents.ParamRequestID, Label: "Request ID", Placeholder: "request ID"},
	}
}

// validToken reports whether s is an HTTP header name (RFC 9110 token).
func validToken(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return s != ""
}

func validSignInURL(s string) bool {
	if strings.HasPrefix(s, "/") {
		return !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "\\\x00\r\n")
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

// validSource reports whether s is a CSP source expression that a
// frame-ancestors directive accepts: a keyword, a scheme, or a host with an
// optional scheme, port and path.
func validSource(s string) bool {
	switch s {
	case "'self'", "'none'":
		return true
	case "":
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":/.-*_~%", c) >= 0
		if !ok {
			return false
		}
	}
	return !strings.HasPrefix(s, ":")
}
