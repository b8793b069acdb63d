package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/auditevents/auditevents"
)

// The paths of the two endpoints, below [Options.Prefix].
const (
	ListPath     = "/audit-events"
	DownloadPath = "/audit-events/download"
)

// CountTrailer is the HTTP trailer that ends every complete 200 response to
// GET: the number of events in the body, set only after its last byte has
// been written. Every such response announces it in its Trailer header, so a
// client that reads the body to its end and finds no CountTrailer knows that
// the body was cut short, whatever sat between the handler and the client.
const CountTrailer = "Audit-Events-Count"

// Defaults of the [Options] limits.
const (
	DefaultPrefix        = "/v1"
	DefaultMaxQueryBytes = 4096
	DefaultMaxParams     = 32
	DefaultMaxLimit      = 1000
	DefaultMaxPageBytes  = 8 << 20
	DefaultWriteTimeout  = time.Minute
)

// Options configures a [Handler]. The zero value, like a nil *Options, means
// the defaults given for each field.
type Options struct {
	// Prefix is the path [Handler.Register] mounts the endpoints under:
	// Prefix+"/audit-events" and Prefix+"/audit-events/download". It must
	// start with "/" and hold only letters, digits, "/", "-", ".", "_" and
	// "~"; a trailing "/" is dropped, so "/" serves the endpoints at the
	// root. Defaults to "/v1", the server URL of the API's specification.
	// A host that mounts [Handler.Routes] itself may use [Handler.Prefix]
	// or a path of its own.
	Prefix string

	// BaseURL, when set, is where clients reach the endpoints, as an
	// absolute URL ("https://example.com/audit/v1") or a path
	// ("/audit/v1"), without a query: the Link header of a paged response
	// then names BaseURL+"/audit-events?..." (or .../download). Set it
	// when a reverse proxy serves the endpoints under another path than
	// the one they arrive on here. When it is empty, Link names the path
	// the request arrived on at this server (its RequestURI), which is
	// right wherever the handler is mounted: under http.StripPrefix, a
	// sub-router or a route group. A trailing "/" is dropped.
	BaseURL string

	// Authorize, when set, is called for every request that passes the
	// method and size checks, before its parameters are read. It returns the
	// account the caller may read, which confines every query to that
	// account (an empty account means the events that have none, as in
	// single-account installs); no parameter can widen it. It returns an
	// error wrapping [ErrUnauthorized] for a 401 response or
	// [ErrForbidden] for a 403; any other error is logged and answered
	// with 500. The client never sees the error's text. It must be safe for
	// concurrent use.
	//
	// When Authorize is nil the endpoints are open to every client that
	// can reach them, and they serve the events of every account.
	Authorize func(r *http.Request) (account string, err error)

	// Challenge, when not empty, is sent as the WWW-Authenticate header of
	// 401 responses, such as `Bearer realm="audit"`.
	Challenge string

	// Envelope wraps the list endpoint's events in an object,
	// {"auditEvents": [...]}, the shape that Bindplane's own collector
	// receiver decodes, instead of the bare array that the specification
	// documents. It does not change the download or error bodies.
	Envelope bool

	// Logger receives the errors that clients are not shown: store failures
	// (answered with a generic 500 message, or by aborting a response that
	// has begun), errors from Authorize other than the two sentinels, and,
	// at debug level, requests whose client went away. Defaults to
	// slog.Default().
	Logger *slog.Logger

	// CSV configures the download's CSV writer; nil means the defaults of
	// [auditevents.CSVOptions], which neutralise cells that a spreadsheet
	// would run as formulas, and write the specification's columns only.
	// Set its ActorColumns for the download to carry the actor's columns
	// too ([auditevents.CSVActorColumns], after the specification's).
	CSV *auditevents.CSVOptions

	// MaxQueryBytes is the longest raw query string accepted; a longer one
	// is refused with 400 before it is parsed. Zero means
	// [DefaultMaxQueryBytes]; a negative value means no limit.
	MaxQueryBytes int

	// MaxParams is the most query parameters accepted, counted before
	// parsing; more are refused with 400. Zero means [DefaultMaxParams]; a
	// negative value means no limit. The verifiable log's endpoints
	// accept [MaxHashes] + 1 (the hashes endpoint's indexes and the
	// account) whatever MaxParams says.
	MaxParams int

	// MaxLimit is the largest value of the "limit" parameter accepted; a
	// larger one is refused with 400. A paged response is assembled in
	// memory before it is sent, so that its Link header can say whether a
	// next page exists: MaxLimit bounds that memory. Zero means
	// [DefaultMaxLimit].
	MaxLimit int

	// MaxPageBytes bounds the memory a paged response (one with "limit")
	// is assembled in: once the page's body reaches it, the page ends
	// early, before limit events, and its Link header names the rest, so a
	// client that follows Link misses nothing. Zero means
	// [DefaultMaxPageBytes]. Events may hold up to 64 KiB of description,
	// so without this bound a page of 1,000 events could take hundreds of
	// megabytes.
	MaxPageBytes int

	// WriteTimeout bounds each write of a response body: before every
	// write the handler sets the connection's write deadline to
	// WriteTimeout from then, through http.ResponseController. A download
	// that keeps moving may thus take longer than the server's
	// http.Server.WriteTimeout, which the deadline replaces for these
	// responses, while a client that stops reading is dropped within
	// WriteTimeout, and its response ends as a failure. Zero means
	// [DefaultWriteTimeout]; a negative value leaves the server's deadline
	// alone (a response writer that cannot set deadlines does the same).
	WriteTimeout time.Duration

	// Now returns the current time, which names the downloaded file.
	// Defaults to time.Now.
	Now func() time.Time

	// Log, when set, serves the store's verifiable log too: signed
	// checkpoints, proofs and the log in sequence order (see
	// [CheckpointPath] and the paths beside it). The store must implement
	// [auditevents.Ledger].
	Log *LogOptions

	// Tail, when set, serves the live tail: an account's events as
	// Server-Sent Events as they are committed (see [TailPath]). The store
	// must implement [auditevents.Ledger]; New refuses the option
	// otherwise.
	Tail *TailOptions

	// Redact holds a [auditevents.Redactor] per endpoint (the listing,
	// the download in either format, the tail), applied to each event's
	// copy before it is encoded; stored events never change, and the
	// verifiable log's endpoints are never redacted (see [Redaction]).
	// The zero value redacts nothing, and responses are the events as
	// stored.
	Redact Redaction

	// OnRead, when set, is called exactly once after each request to an
	// endpoint of the Handler (the listing, the download, the tail and the
	// log's endpoints), refused ones included (405, 400, 401, 403, 503),
	// with what the request asked and got: see [Read]. It lets the host
	// audit the readers of its audit trail, by recording each read as an
	// event of its own, with [Read.Event] (see the package's example).
	// ctx is the request's context without its cancellation, so that it
	// still serves to record after the client has gone, and carries what
	// middleware put in it.
	//
	// It is called before the handler returns, after the body's last byte
	// has been written but before the server ends the response (and, for
	// a response cut short, while its panic unwinds), so keep it quick:
	// the client waits for it. A listing's or a tail's OnRead runs once
	// per request, at its end, never per event, so an event it records is
	// read by later requests only, and no request can loop on the events
	// of its own reads. It must be safe for concurrent use. Nil (the
	// default) observes nothing, and adds nothing to the endpoints' cost.
	OnRead func(ctx context.Context, rd Read)
}

// A Mux registers a handler for a pattern. *http.ServeMux and the routers of
// github.com/go-chi/chi satisfy it; for any other router, mount
// [Handler.Routes].
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Route is one endpoint of the API, for mounting on any router: its
// method, its path below the prefix, and its handler.
type Route struct {
	// Method is the method the endpoint serves, such as "GET". Its
	// handler also answers HEAD, as GET without a body, and every other
	// method with 405, an Allow header and the specification's error body,
	// so mount it for every method (a router's Any, or a pattern without a
	// method) for clients to get those answers rather than the router's.
	Method string
	// Pattern is the endpoint's path below the prefix, such as
	// "/audit-events": a fixed path, which every router reads the same way.
	Pattern string
	// Handler serves the endpoint at whatever path it is mounted.
	Handler http.Handler
}

// Handler serves the audit events API from a [auditevents.Store]. Create it
// with [New]; mount it with [Handler.Register] on a ServeMux or chi, or
// mount its [Handler.Routes] on any other router.
//
// A Handler is safe for concurrent use; its settings do not change after
// New.
type Handler struct {
	store         auditevents.Store
	prefix        string
	authorize     func(*http.Request) (string, error)
	challenge     string
	envelope      bool
	logger        *slog.Logger
	csv           *auditevents.CSVOptions
	maxQueryBytes int
	maxParams     int
	maxLimit      int
	maxPageBytes  int
	writeTimeout  time.Duration
	baseURL       string
	now           func() time.Time
	redact        Redaction
	onRead        func(context.Context, Read)

	list, download *endpoint

	flushPanicked atomic.Bool   // a response writer's Flush has panicked; logged once
	log           *logEndpoints // nil without Options.Log
	tail          *tailEndpoint // nil without Options.Tail
}

// New returns a Handler that serves the events of store. opts may be nil.
// It returns an error wrapping [ErrInvalidOptions] when store is nil or an
// option holds a value it cannot use, such as a Prefix with a "?" in it.
func New(store auditevents.Store, opts *Options) (*Handler, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: store is nil", ErrInvalidOptions)
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	prefix, err := cleanPrefix(o.Prefix)
	if err != nil {
		return nil, err
	}
	if o.MaxPageBytes < 0 {
		return nil, fmt.Errorf("%w: MaxPageBytes is %d; it must not be negative", ErrInvalidOptions, o.MaxPageBytes)
	}
	if o.MaxLimit < 0 {
		return nil, fmt.Errorf("%w: MaxLimit is %d; it must not be negative", ErrInvalidOptions, o.MaxLimit)
	}
	baseURL, err := cleanBaseURL(o.BaseURL)
	if err != nil {
		return nil, err
	}
	h := &Handler{
		store:         store,
		prefix:        prefix,
		authorize:     o.Authorize,
		challenge:     o.Challenge,
		envelope:      o.Envelope,
		logger:        o.Logger,
		csv:           o.CSV,
		maxQueryBytes: orDefault(o.MaxQueryBytes, DefaultMaxQueryBytes),
		maxParams:     orDefault(o.MaxParams, DefaultMaxParams),
		maxLimit:      min(orDefault(o.MaxLimit, DefaultMaxLimit), math.MaxInt-1), // a page reads one event more
		maxPageBytes:  orDefault(o.MaxPageBytes, DefaultMaxPageBytes),
		writeTimeout:  o.WriteTimeout,
		baseURL:       baseURL,
		now:           o.Now,
		redact:        o.Redact,
		onRead:        o.OnRead,
	}
	if h.writeTimeout == 0 {
		h.writeTimeout = DefaultWriteTimeout
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.list = &endpoint{h: h, pattern: ListPath, errorType: contentJSON, redact: o.Redact.List}
	h.download = &endpoint{h: h, pattern: DownloadPath, errorType: contentOctetStream, csv: true, redact: o.Redact.Download}
	if h.log, err = newLogEndpoints(h, o.Log); err != nil {
		return nil, err
	}
	if h.tail, err = newTail(h, o.Tail); err != nil {
		return nil, err
	}
	return h, nil
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// cleanPrefix checks an Options.Prefix and returns it without its trailing
// slashes, or "/v1" for "".
func cleanPrefix(p string) (string, error) {
	if p == "" {
		return DefaultPrefix, nil
	}
	if p[0] != '/' {
		return "", fmt.Errorf("%w: Prefix %q must start with \"/\"", ErrInvalidOptions, p)
	}
	for _, c := range []byte(p) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/-._~", c) >= 0
		if !ok {
			return "", fmt.Errorf("%w: Prefix %q may hold only letters, digits and / - . _ ~", ErrInvalidOptions, p)
		}
	}
	return strings.TrimRight(p, "/"), nil
}

// cleanBaseURL checks an Options.BaseURL and returns it without its
// trailing slashes.
func cleanBaseURL(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: BaseURL %q: %v", ErrInvalidOptions, s, err)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil:
		return "", fmt.Errorf("%w: BaseURL %q must not hold a query, a fragment or credentials", ErrInvalidOptions, s)
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//"):
		// A path.
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "":
		// An absolute URL.
	default:
		return "", fmt.Errorf("%w: BaseURL %q must be an http or https URL with a host, or a path starting with \"/\"", ErrInvalidOptions, s)
	}
	// Written back from its parts, so that nothing in it can end the
	// <...> of a Link header.
	return strings.TrimRight(u.String(), "/"), nil
}

// Register mounts every route of [Handler.Routes] on mux, at Prefix plus
// its pattern: Prefix+"/audit-events" and Prefix+"/audit-events/download",
// with [Options.Log] the log's endpoints below Prefix+"/audit-events/log/",
// and with [Options.Tail] the live tail, Prefix+"/audit-events/tail".
// The patterns carry no method, so that they mean the same to every
// router; the handlers answer methods other than GET and HEAD with 405
// themselves. It never touches http.DefaultServeMux unless that is the mux
// given.
//
// On an *http.ServeMux that already holds a pattern with a method and a
// wildcard covering these paths, such as "GET /v1/{collection}", a pattern
// without a method conflicts and ServeMux panics. Mount the plain handlers
// with a method instead; the mux then answers other methods with its own
// 405:
//
//	mux.Handle("GET /v1/audit-events", h.List())
//	mux.Handle("GET /v1/audit-events/download", h.Download())
func (h *Handler) Register(mux Mux) {
	for _, rt := range h.Routes() {
		mux.Handle(h.prefix+rt.Pattern, rt.Handler)
	}
}

// Routes returns the endpoints of the API, for a router that
// [Handler.Register] cannot use. Mount each handler at a prefix of the
// host's choosing (such as [Handler.Prefix]) plus its Pattern, for every
// method; with gorilla/mux, echo and gin:
//
//	for _, rt := range api.Routes() {
//		r.Handle(api.Prefix()+rt.Pattern, rt.Handler)                // gorilla/mux
//		e.Any(api.Prefix()+rt.Pattern, echo.WrapHandler(rt.Handler)) // echo
//		g.Any(api.Prefix()+rt.Pattern, gin.WrapH(rt.Handler))        // gin
//	}
//
// On a ServeMux that also holds a pattern with a method and a wildcard
// covering these paths, mount rt.Method+" "+path instead (see Register);
// "GET" also matches HEAD there. Each call returns a new slice of the same
// handlers.
func (h *Handler) Routes() []Route {
	routes := []Route{
		{Method: http.MethodGet, Pattern: ListPath, Handler: h.list},
		{Method: http.MethodGet, Pattern: DownloadPath, Handler: h.download},
	}
	if h.log != nil {
		routes = append(routes, h.log.all...)
	}
	if h.tail != nil {
		routes = append(routes, Route{Method: http.MethodGet, Pattern: TailPath, Handler: h.tail})
	}
	return routes
}

// Prefix returns [Options.Prefix] as Register uses it: "/v1" by default,
// without a trailing "/" ("" for a Prefix of "/").
func (h *Handler) Prefix() string { return h.prefix }

// List returns the handler of GET Prefix+"/audit-events": the matching
// events as a JSON array, newest first. It serves whatever path it is
// mounted at, and it is the Handler of that route in [Handler.Routes].
func (h *Handler) List() http.Handler { return h.list }

// Download returns the handler of GET Prefix+"/audit-events/download": the
// matching events as a CSV file, newest first. It serves whatever path it is
// mounted at, and it is the Handler of that route in [Handler.Routes].
func (h *Handler) Download() http.Handler { return h.download }
