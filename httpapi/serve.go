package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

const (
	contentJSON        = "application/json"
	contentOctetStream = "application/octet-stream"

	// flushBytes is how much of a streamed response is gathered before it
	// is written and flushed to the client. A response shorter than this
	// is sent whole, so a store error anywhere in it still gets a clean 500.
	flushBytes = 32 << 10

	msgInternal     = "internal server error"
	msgUnauthorized = "missing or invalid credentials"
	msgForbidden    = "not allowed to read audit events"
	msgMethod       = "method not allowed; use GET or HEAD"
)

// endpoint serves one of the two operations.
type endpoint struct {
	h         *Handler
	pattern   string // ListPath or DownloadPath, for Link headers below Options.BaseURL
	errorType string // the Content-Type of error bodies, as the spec gives it
	csv       bool   // the download: CSV rather than JSON
	bodyType  string // when set, the Content-Type of a streamed body (ledger.go's entries)
	jsonl     bool   // the download as JSON Lines (with csv): see negotiate
	sse       bool   // the live tail: Server-Sent Events (see tail.go)
	// redact is the Options.Redact entry of this endpoint (the download's
	// covers both of its formats).
	redact auditevents.Redactor
	// maxParams, when positive, replaces Options.MaxParams: the log's
	// endpoints take up to MaxHashes "index" parameters.
	maxParams int
}

func (ep *endpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ep.h.observe(ep.pattern, w, r, ep.serve)
}

func (ep *endpoint) serve(w http.ResponseWriter, r *http.Request) {
	h := ep.h
	account, values, ok := ep.begin(w, r)
	if !ok {
		return
	}
	rd := readOf(w)
	parsed := values // what ParseQuery reads; values also names the next page
	if ep.csv {
		var err error
		if ep, parsed, err = ep.negotiate(r, values); err != nil {
			ep.queryFailed(w, r, false, err)
			return
		}
		if rd != nil {
			rd.Format = FormatCSV
			if ep.jsonl {
				rd.Format = FormatJSONLines
			}
		}
	}
	q, err := auditevents.ParseQuery(parsed)
	if err != nil {
		ep.queryFailed(w, r, false, ep.explain(err))
		return
	}
	if q.Limit > h.maxLimit {
		err := &auditevents.QueryError{Param: auditevents.ParamLimit, Value: strconv.Itoa(q.Limit), Reason: fmt.Sprintf("expected a whole number from 1 to %d", h.maxLimit)}
		ep.writeError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if h.authorize != nil {
		q = q.InAccount(account)
	}
	if rd != nil {
		rd.Query = q
	}

	if q.Limit > 0 {
		ep.servePage(w, r, q, values)
	} else {
		ep.serveStream(w, r, q)
	}
}

// begin makes the checks that every request passes before its own
// parameters are read: it sets the headers of every response, refuses
// methods other than GET and HEAD, oversized query strings and too many
// parameters, calls Options.Authorize, and parses the query string. It
// returns the account Authorize gave ("" without Authorize) and the
// parameters, or ok false once it has answered the request with an error.
func (ep *endpoint) begin(w http.ResponseWriter, r *http.Request) (account string, values url.Values, ok bool) {
	h := ep.h
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", "no-store")

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		ep.writeError(w, r, http.StatusMethodNotAllowed, msgMethod)
		return "", nil, false
	}
	raw := r.URL.RawQuery
	if h.maxQueryBytes > 0 && len(raw) > h.maxQueryBytes {
		ep.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("query string is %d bytes long; at most %d bytes are accepted", len(raw), h.maxQueryBytes))
		return "", nil, false
	}
	maxParams := h.maxParams
	if ep.maxParams > 0 {
		maxParams = ep.maxParams
	}
	if n := countParams(raw); maxParams > 0 && n > maxParams {
		ep.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("query string has %d parameters; at most %d are accepted", n, maxParams))
		return "", nil, false
	}

	if h.authorize != nil {
		var err error
		if account, err = h.authorize(r); err != nil {
			ep.authError(w, r, err)
			return "", nil, false
		}
	}
	if rd := readOf(w); rd != nil {
		rd.Authorized, rd.Account = true, account
	}

	values, err := url.ParseQuery(raw)
	if err != nil {
		ep.writeError(w, r, http.StatusBadRequest, "malformed query string: "+err.Error())
		return "", nil, false
	}
	return account, values, true
}

// countParams counts the parameters of a raw query string as url.ParseQuery
// splits it, without decoding anything.
func countParams(raw string) int {
	n := 0
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part != "" {
			n++
		}
	}
	return n
}

// serveStream writes every event of q as it comes from the store, flushing
// every flushBytes, so memory stays flat and the first bytes leave before
// the store has read the last event. CountTrailer ends a complete body.
func (ep *endpoint) serveStream(w http.ResponseWriter, r *http.Request, q auditevents.Query) {
	if r.Method == http.MethodHead {
		// Ask for one event, to answer as GET would when the store fails.
		q.Limit = 1
		for _, err := range ep.h.store.Query(r.Context(), q) {
			if err != nil {
				ep.queryFailed(w, r, false, err)
				return
			}
		}
		ep.setSuccessHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	out := ep.newBodyWriter(w, r, true)
	enc := ep.newEncoder(out)
	var cur auditevents.AuditEvent // one variable, so the encoder's pointer allocates once
	n := 0
	if rd := readOf(w); rd != nil {
		defer func() { rd.Events = n }() // also when the response is aborted
	}
	for e, err := range ep.h.store.Query(r.Context(), q) {
		if err != nil {
			ep.queryFailed(w, r, out.started, err)
			return
		}
		cur = e
		if ep.redact != nil {
			ep.redact.ApplyTo(r.Context(), &cur)
		}
		if err := enc.write(&cur); err != nil {
			ep.writeFailed(w, r, out.started, err)
			return
		}
		n++
	}
	if err := enc.close(); err != nil {
		ep.writeFailed(w, r, out.started, err)
		return
	}
	out.finish(n)
}

// servePage writes one page of at most q.Limit events. It reads one event
// more, to know whether a next page exists, and assembles the page in
// memory before sending it, so that the Link header naming the next page
// can come first. Options.MaxLimit bounds the page's events and
// Options.MaxPageBytes its size: a page that reaches MaxPageBytes ends
// early, with a Link to the rest. CountTrailer ends a complete body, as it
// ends a stream, so that clients check every response the same way.
func (ep *endpoint) servePage(w http.ResponseWriter, r *http.Request, q auditevents.Query, values url.Values) {
	limit := q.Limit
	q.Limit++ // New keeps MaxLimit below math.MaxInt, so this cannot wrap
	var (
		body bytes.Buffer
		enc  = ep.newEncoder(&body)
		n    int
		last auditevents.Cursor
		more bool
		cur  auditevents.AuditEvent
	)
	for e, err := range ep.h.store.Query(r.Context(), q) {
		if err != nil {
			ep.queryFailed(w, r, false, err)
			return
		}
		if n == limit || (n > 0 && body.Len()+enc.buffered() >= ep.h.maxPageBytes) {
			more = true
			break
		}
		cur = e
		if ep.redact != nil {
			ep.redact.ApplyTo(r.Context(), &cur)
		}
		_ = enc.write(&cur) // a bytes.Buffer does not fail
		n++
		last = e.Cursor() // the stored event's: a Redactor may change anything
	}
	_ = enc.close()

	if more {
		next := make(url.Values, len(values)+1)
		for k, v := range values {
			next[k] = v
		}
		next.Set(auditevents.ParamCursor, last.String())
		w.Header().Set("Link", "<"+ep.link(r)+"?"+next.Encode()+`>; rel="next"`)
	}
	if r.Method == http.MethodHead {
		ep.setSuccessHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	out := ep.newBodyWriter(w, r, false)
	if _, err := out.Write(body.Bytes()); err != nil {
		ep.writeFailed(w, r, out.started, err)
		return
	}
	if rd := readOf(w); rd != nil {
		rd.Events = n // sent: a HEAD sends none
	}
	out.finish(n)
}

// link returns the URL, without a query, that the Link header of a paged
// response names: Options.BaseURL and the endpoint's pattern when it is
// set, or else the path r arrived on at this server, taken from its
// RequestURI, which http.StripPrefix and routers leave as it was received.
// A request built in Go rather than read by a server has no RequestURI;
// its URL's path serves.
func (ep *endpoint) link(r *http.Request) string {
	if ep.h.baseURL != "" {
		return ep.h.baseURL + ep.pattern
	}
	path := r.URL.EscapedPath()
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
		path = u.EscapedPath() // escaped, so that nothing in it ends the <...>
	}
	// A path starting with "//" would read as a link to another host.
	return "/" + strings.TrimLeft(path, "/")
}

func (ep *endpoint) setSuccessHeaders(hdr http.Header) {
	if ep.sse {
		setTailHeaders(hdr)
		return
	}
	hdr.Add("Trailer", CountTrailer)
	if ep.bodyType != "" {
		hdr.Set("Content-Type", ep.bodyType)
		return
	}
	if !ep.csv {
		hdr.Set("Content-Type", contentJSON)
		return
	}
	ctype, ext := contentOctetStream, ".csv"
	if ep.jsonl {
		ctype, ext = contentJSONLines, ".jsonl"
	}
	hdr.Set("Content-Type", ctype)
	name := "audit-events-" + ep.h.now().UTC().Format("20060102T150405Z") + ext
	hdr.Set("Content-Disposition", `attachment; filename="`+name+`"`)
}

// queryFailed answers a request whose query failed with err. Before the
// first byte of the body has left (started is false) it can still answer
// with an error status: 400 for an invalid query, 500 otherwise. After that
// the status has been sent, so it aborts the response (see abort), which
// the client sees as a truncated transfer rather than a complete-looking
// body that misses events.
func (ep *endpoint) queryFailed(w http.ResponseWriter, r *http.Request, started bool, err error) {
	noteErr(w, err)
	gone := r.Context().Err() != nil
	if gone {
		ep.h.logger.LogAttrs(r.Context(), slog.LevelDebug, "auditevents: request ended before its response",
			slog.String("path", r.URL.Path), slog.Any("error", err))
	} else {
		var qe *auditevents.QueryError
		if !started && errors.As(err, &qe) {
			ep.writeError(w, r, http.StatusBadRequest, qe.Error())
			return
		}
		ep.h.logger.LogAttrs(r.Context(), slog.LevelError, "auditevents: query failed",
			slog.String("path", r.URL.Path), slog.Bool("responseStarted", started), slog.Any("error", err))
	}
	if started {
		abort(w)
	}
	ep.writeError(w, r, http.StatusInternalServerError, msgInternal)
}

// writeFailed ends a response that could not be written: the client went
// away or stopped reading (Options.WriteTimeout), or the request's context
// ended. It is no server error, so it is logged at debug level. A response
// that has begun is aborted, so that whatever still listens never takes it
// for complete.
func (ep *endpoint) writeFailed(w http.ResponseWriter, r *http.Request, started bool, err error) {
	noteErr(w, err)
	ep.h.logger.LogAttrs(r.Context(), slog.LevelDebug, "auditevents: response not written; the client went away",
		slog.String("path", r.URL.Path), slog.Bool("responseStarted", started), slog.Any("error", err))
	if started {
		abort(w)
	}
	ep.writeError(w, r, http.StatusInternalServerError, msgInternal)
}

// authError answers a request that Options.Authorize refused.
func (ep *endpoint) authError(w http.ResponseWriter, r *http.Request, err error) {
	noteErr(w, err)
	switch {
	case errors.Is(err, ErrUnauthorized):
		if ep.h.challenge != "" {
			w.Header().Set("WWW-Authenticate", ep.h.challenge)
		}
		ep.writeError(w, r, http.StatusUnauthorized, msgUnauthorized)
	case errors.Is(err, ErrForbidden):
		ep.writeError(w, r, http.StatusForbidden, msgForbidden)
	default:
		ep.h.logger.LogAttrs(r.Context(), slog.LevelError, "auditevents: authorization failed",
			slog.String("path", r.URL.Path), slog.Any("error", err))
		ep.writeError(w, r, http.StatusInternalServerError, msgInternal)
	}
}

// errorResponse is the specification's model.ErrorResponse.
type errorResponse struct {
	Errors []string `json:"errors"`
}

// writeError sends the specification's ErrorResponse with one message, with
// the content type the specification gives this endpoint's errors.
func (ep *endpoint) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	noteErr(w, errors.New(msg))
	body, err := json.Marshal(errorResponse{Errors: []string{msg}})
	if err != nil { // cannot happen: a struct of strings always marshals
		body = []byte(`{"errors":["` + msgInternal + `"]}`)
	}
	hdr := w.Header()
	hdr.Del("Content-Disposition")
	hdr.Del("Link")
	hdr.Set("Content-Type", ep.errorType)
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body) // a failed write means the client left
	}
}

// abort ends a response that has begun and cannot be completed, so that
// the client sees a truncated transfer: it closes the connection and
// panics with http.ErrAbortHandler, which net/http answers by dropping the
// connection, or an HTTP/2 stream. Closing the connection first breaks the
// transfer even when a middleware recovers the panic and lets the server
// end the response cleanly, as gin's Recovery and gorilla's
// RecoveryHandler do. An HTTP/2 stream cannot be closed that way; a
// response whose panic is swallowed there ends without CountTrailer, which
// is what tells its client.
func abort(w http.ResponseWriter) {
	closeConn(w)
	panic(http.ErrAbortHandler)
}

// closeConn closes the connection under w, if a writer in its chain can
// hijack it. It goes on down the chain (through Unwrap) when a writer
// refuses, as gin's does once a body has begun, and stops at the first
// that succeeds.
func closeConn(w http.ResponseWriter) {
	// A writer may also claim to hijack and panic, as gin's does over a
	// writer that cannot: the panic that follows ends the response all the
	// same.
	defer func() { _ = recover() }()
	for w != nil {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

// bodyWriter writes a success body to the client: it sets the success
// headers before the first byte, moves the connection's write deadline
// (Options.WriteTimeout) before each write, and when streaming flushes
// after each write so the bytes leave at once. It fails once the request's
// context is done, so a response stops at its next write when the client
// has gone, whatever the store does.
type bodyWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	ctx     context.Context
	ep      *endpoint
	flush   bool // flush after each write (streamed responses)
	started bool // the success headers are set and the body has begun
}

func (ep *endpoint) newBodyWriter(w http.ResponseWriter, r *http.Request, flush bool) *bodyWriter {
	return &bodyWriter{w: w, rc: http.NewResponseController(w), ctx: r.Context(), ep: ep, flush: flush}
}

func (b *bodyWriter) Write(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	if !b.started {
		b.ep.setSuccessHeaders(b.w.Header())
		b.started = true
	}
	if d := b.ep.h.writeTimeout; d > 0 {
		// A writer that cannot move the deadline leaves the server's; a
		// deadline that cannot be set on a broken connection shows as
		// the write's error.
		_ = b.rc.SetWriteDeadline(time.Now().Add(d))
	}
	n, err := b.w.Write(p)
	if err != nil {
		return n, err
	}
	if b.flush {
		if err := b.flushBody(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// flushBody flushes what has been written to the client. A writer that
// cannot flush is fine: the body leaves as the writers' buffers fill. A
// Flush that panics, as echo's does over a middleware's writer that cannot
// flush, is recovered and not called again for this response, so the body
// goes on unflushed rather than ending at the first flush; the first such
// panic of a Handler is logged with its stack. A Flush that fails
// otherwise means the client has gone.
func (b *bodyWriter) flushBody() (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		b.flush, err = false, nil
		if b.ep.h.flushPanicked.CompareAndSwap(false, true) {
			b.ep.h.logger.LogAttrs(b.ctx, slog.LevelWarn, "auditevents: the response writer's Flush panicked; responses go on without flushing",
				slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
		}
	}()
	if err := b.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// finish ends a complete body of n events: it sets CountTrailer, which
// the server sends after the body's last byte.
func (b *bodyWriter) finish(n int) {
	b.w.Header().Set(CountTrailer, strconv.Itoa(n))
	if rd := readOf(b.w); rd != nil {
		rd.Events, rd.Complete = n, true
	}
}

// encoder writes events in a response format. It buffers: close writes
// what remains and the format's end.
type encoder interface {
	write(e *auditevents.AuditEvent) error
	close() error
	// buffered is how many bytes written have not reached the writer.
	buffered() int
}

func (ep *endpoint) newEncoder(w io.Writer) encoder {
	if ep.jsonl {
		return newLinesEncoder(w)
	}
	if ep.csv {
		return csvEncoder{auditevents.NewCSVWriter(w, ep.h.csv)}
	}
	open := "["
	if ep.h.envelope {
		open = `{"auditEvents":[`
	}
	buf := make([]byte, 0, flushBytes+4096)
	return &jsonEncoder{w: w, buf: append(buf, open...), envelope: ep.h.envelope}
}

// jsonEncoder writes a JSON array of events, or the envelope object that
// holds one, gathering flushBytes before each write.
type jsonEncoder struct {
	w        io.Writer
	buf      []byte
	n        int
	envelope bool
}

func (j *jsonEncoder) write(e *auditevents.AuditEvent) error {
	if j.n > 0 {
		j.buf = append(j.buf, ',')
	}
	j.buf = e.AppendJSON(j.buf)
	j.n++
	if len(j.buf) < flushBytes {
		return nil
	}
	_, err := j.w.Write(j.buf)
	j.buf = j.buf[:0]
	return err
}

func (j *jsonEncoder) buffered() int { return len(j.buf) }

func (j *jsonEncoder) close() error {
	j.buf = append(j.buf, ']')
	if j.envelope {
		j.buf = append(j.buf, '}')
	}
	_, err := j.w.Write(j.buf)
	j.buf = j.buf[:0]
	return err
}

// csvEncoder writes the CSV download; the CSVWriter buffers 64 KiB.
type csvEncoder struct{ cw *auditevents.CSVWriter }

func (c csvEncoder) write(e *auditevents.AuditEvent) error { return c.cw.Write(e) }
func (c csvEncoder) close() error                          { return c.cw.Flush() }
func (c csvEncoder) buffered() int                         { return c.cw.Buffered() }
