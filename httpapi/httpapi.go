package httpapi

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// The paths of the two endpoints, below [Options.Prefix].
const (
	ListPath     = "/audit-events"
	DownloadPath = "/audit-events/download"
)

// Defaults of the [Options] limits.
const (
	DefaultPrefix        = "/v1"
	DefaultMaxQueryBytes = 4096
	DefaultMaxParams     = 32
	DefaultMaxLimit      = 1000
	DefaultMaxPageBytes  = 8 << 20
)

// Options configures a [Handler]. The zero value, like a nil *Options, means
// the defaults given for each field.
type Options struct {
	// Prefix is the path the endpoints are served under: [Handler.Register]
	// mounts them at Prefix+"/audit-events" and
	// Prefix+"/audit-events/download", and the Link header of a paged
	// response names the next page under it. It must start with "/" and
	// hold only letters, digits, "/", "-", ".", "_" and "~"; a trailing "/"
	// is dropped, so "/" serves the endpoints at the root. Defaults to
	// "/v1", the server URL of the API's specification. When the plain
	// handlers of [Handler.List] and [Handler.Download] are mounted by hand,
	// set it to the path clients reach them under.
	Prefix string

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
	// would run as formulas.
	CSV *auditevents.CSVOptions

	// MaxQueryBytes is the longest raw query string accepted; a longer one
	// is refused with 400 before it is parsed. Zero means
	// [DefaultMaxQueryBytes]; a negative value means no limit.
	MaxQueryBytes int

	// MaxParams is the most query parameters accepted, counted before
	// parsing; more are refused with 400. Zero means [DefaultMaxParams]; a
	// negative value means no limit.
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

	// Now returns the current time, which names the downloaded file.
	// Defaults to time.Now.
	Now func() time.Time

	// Log, when set, serves the store's verifiable log too: signed
	// checkpoints, proofs and the log in sequence order (see
	// [CheckpointPath] and the paths beside it). The store must implement
	// [auditevents.Ledger].
	Log *LogOptions
}

// A Mux registers a handler for a pattern. *http.ServeMux and the routers of
// github.com/go-chi/chi satisfy it.
type Mux interface {
	Handle(pattern string, handler http.Handler)
}

// Handler serves the audit events API from a [auditevents.Store]. Create it
// with [New]; mount it with [Handler.Register], or mount the handlers that
// [Handler.List] and [Handler.Download] return on any router.
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
	now           func() time.Time

	list, download *endpoint
	log            *logEndpoints // nil without Options.Log
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
		maxLimit:      orDefault(o.MaxLimit, DefaultMaxLimit),
		maxPageBytes:  orDefault(o.MaxPageBytes, DefaultMaxPageBytes),
		now:           o.Now,
	}
	if h.logger == nil {
		h.logger = slog.Default()
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.list = &endpoint{h: h, path: prefix + ListPath, errorType: contentJSON}
	h.download = &endpoint{h: h, path: prefix + DownloadPath, errorType: contentOctetStream, csv: true}
	if h.log, err = newLogEndpoints(h, o.Log); err != nil {
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

// Register mounts both endpoints on mux, at Prefix+"/audit-events" and
// Prefix+"/audit-events/download", and, with [Options.Log], the log's
// endpoints below Prefix+"/audit-events/log/". The patterns carry no method, so that
// they mean the same to every router; the handlers answer methods other
// than GET and HEAD with 405 themselves. It never touches
// http.DefaultServeMux unless that is the mux given.
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
	mux.Handle(h.list.path, h.list)
	mux.Handle(h.download.path, h.download)
	if h.log != nil {
		h.log.register(mux)
	}
}

// List returns the handler of GET Prefix+"/audit-events": the matching
// events as a JSON array, newest first. It serves whatever path it is
// mounted at.
func (h *Handler) List() http.Handler { return h.list }

// Download returns the handler of GET Prefix+"/audit-events/download": the
// matching events as a CSV file, newest first. It serves whatever path it is
// mounted at.
func (h *Handler) Download() http.Handler { return h.download }
