package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
)

// Redaction holds the [auditevents.Redactor] of each endpoint that serves
// events, for [Options.Redact]: each event's copy passes through the
// endpoint's Redactor before it is encoded, with the request's context, so
// that one Redactor can tell one audience from another (by what the host's
// middleware or Authorize put in the context). Stored events never change.
// A nil Redactor leaves that endpoint's events whole. The type is the one
// the forwarder's routes take, so one Redactor serves both.
//
// Filters match the stored events, not the redacted copies: a client that
// may filter on a field can learn what a Redactor hides by trying values
// (ip-address=192.0.2.7, say). For an audience whose Redactor hides a
// field, refuse the field's filter in Authorize (with [ErrForbidden]) or in
// a middleware.
//
// The verifiable log's endpoints are never redacted: their entries are
// proven against the log's leaves, which hash the whole event, and a
// redacted entry would fail its proof. Serve them only to those who may
// read every field, or not at all.
type Redaction struct {
	// List redacts the events of the listing, GET Prefix+"/audit-events".
	List auditevents.Redactor
	// Download redacts the events of the download,
	// GET Prefix+"/audit-events/download", in either format: the client
	// chooses CSV or JSON Lines (format=jsonl, or Accept), so one
	// Redactor covers both, and no format serves what the other hides.
	Download auditevents.Redactor
	// Tail redacts the events of the live tail.
	Tail auditevents.Redactor
}

// Actions of the events [Read.Event] returns.
const (
	// ActionRead is the action of a read of the audit trail: a listing, a
	// tail, or one of the verifiable log's endpoints.
	ActionRead auditevents.Action = "Read"
	// ActionExported is the action of a download of the audit trail.
	ActionExported auditevents.Action = "Exported"
)

// Read describes one request to an endpoint of a [Handler], for
// [Options.OnRead]: who asked, what, and what they got.
type Read struct {
	// Request is the request as the endpoint received it, so that the
	// hook can read what Authorize read (a header, a session) and what
	// middleware put in its context (such as the [auditevents.Actor] of
	// [ActorMiddleware]).
	Request *http.Request
	// Endpoint is the route's pattern below the prefix: [ListPath],
	// [DownloadPath], [TailPath], or one of the verifiable log's paths
	// ([CheckpointPath], [EntriesPath], [InclusionPath],
	// [ConsistencyPath], [HashesPath]).
	Endpoint string
	// Format is the download's format, [FormatCSV] or [FormatJSONLines],
	// once it has been chosen; "" for the other endpoints.
	Format string
	// Authorized reports whether Options.Authorize accepted the request
	// (true without Authorize, for a request that reached it).
	Authorized bool
	// Account is the account the request was confined to: the one
	// Authorize returned, or, without Authorize, the "account" parameter
	// of the tail and the log's endpoints; "" otherwise.
	Account string
	// Query is the query the listing, download or tail ran, confined to
	// the account; the zero Query when the request ended before its
	// parameters were parsed, and for the log's endpoints (whose
	// parameters are in Request).
	Query auditevents.Query
	// Status is the response's status code, such as 200, 400 or 403.
	Status int
	// Events is the number of events encoded into the response: the rows
	// of a download, the events of a listing or a tail, the entries of the
	// log's entries endpoint (pruned runs included); 0 for checkpoints and
	// proofs. Of a response cut short, some may not have reached the
	// client.
	Events int
	// Complete reports whether the response was served whole: a 200
	// response whose body ended with [CountTrailer], or a checkpoint,
	// proof or HEAD answered. A live tail, which never ends by itself, is
	// complete when it ended because its client left or
	// [TailOptions.Done] was closed, rather than because the store failed
	// or a write failed.
	Complete bool
	// Err is why the response is not complete: a store's or a write's
	// error, or for a refused request an error whose text is the message
	// the client got. Nil when Complete.
	Err error
	// Duration is how long the endpoint took, from the request's arrival
	// at the endpoint to its last byte.
	Duration time.Duration
}

// maxReadTarget bounds the request's target written into the description
// of [Read.Event].
const maxReadTarget = 1024

// Event returns an event that records the read, for the host to complete
// and record, as [Options.OnRead] documents: in Account, by an empty User
// (the host knows who its caller is), with [ActionExported] for a
// download and [ActionRead] otherwise, of the resource kind
// [auditevents.KindAuditTrail] named by the Endpoint, and a description
// that gives the method and target (cut to 1 KiB), the status, the number
// of events and whether the response was incomplete. Its actor fields are
// empty; [auditevents.Recorder.RecordWithActor] fills them from the
// request's context.
func (rd *Read) Event() auditevents.AuditEvent {
	action := ActionRead
	if rd.Endpoint == DownloadPath {
		action = ActionExported
	}
	target := ""
	if rd.Request != nil {
		target = rd.Request.Method + " " + rd.Request.URL.EscapedPath()
		if rd.Request.URL.RawQuery != "" {
			target += "?" + rd.Request.URL.RawQuery
		}
		if len(target) > maxReadTarget {
			cut := maxReadTarget
			for cut > 0 && !utf8.RuneStart(target[cut]) {
				cut--
			}
			target = target[:cut] + "…"
		}
	}
	desc := target + ": status " + strconv.Itoa(rd.Status) + ", " + strconv.Itoa(rd.Events) + " event"
	if rd.Events != 1 {
		desc += "s"
	}
	if rd.Format != "" {
		desc += " as " + rd.Format
	}
	if !rd.Complete {
		desc += ", incomplete"
	}
	return auditevents.AuditEvent{
		Account:      rd.Account,
		Action:       action,
		ResourceKind: auditevents.KindAuditTrail,
		ResourceName: rd.Endpoint,
		Description:  desc,
	}
}

// readWriter is the ResponseWriter of a request that Options.OnRead
// observes: it keeps the status and the Read the endpoint fills in. It
// unwraps to the server's writer, so http.ResponseController flushes,
// hijacks and sets deadlines through it.
type readWriter struct {
	http.ResponseWriter
	status int
	rd     Read
}

func (w *readWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *readWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *readWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// readOf returns the Read that w fills in, or nil when the request is not
// observed (Options.OnRead is nil).
func readOf(w http.ResponseWriter) *Read {
	if rw, ok := w.(*readWriter); ok {
		return &rw.rd
	}
	return nil
}

// noteErr keeps err as the reason a read is incomplete, unless one is
// kept already.
func noteErr(w http.ResponseWriter, err error) {
	if rd := readOf(w); rd != nil && rd.Err == nil {
		rd.Err = err
	}
}

// observe serves r with serve, and with Options.OnRead set, calls it once
// the response is over: after its last byte, after a refusal, and after a
// response aborted by a panic (the deferred call runs while it unwinds).
func (h *Handler) observe(endpoint string, w http.ResponseWriter, r *http.Request, serve func(http.ResponseWriter, *http.Request)) {
	if h.onRead == nil {
		serve(w, r)
		return
	}
	start := time.Now()
	rw := &readWriter{ResponseWriter: w, rd: Read{Request: r, Endpoint: endpoint}}
	returned := false
	defer func() {
		rd := rw.rd
		rd.Duration = time.Since(start)
		rd.Status = rw.status
		switch {
		case rd.Status == 0 && returned: // nothing written: net/http answers 200
			rd.Status = http.StatusOK
		case rd.Status == 0: // a panic before the first byte: net/http drops the connection
			rd.Status = http.StatusInternalServerError
		}
		if endpoint == TailPath && rd.Status == http.StatusOK && r.Context().Err() != nil {
			rd.Complete = true // the client left: how a tail ends
		}
		if r.Method == http.MethodHead && rd.Status == http.StatusOK && rd.Err == nil {
			rd.Complete = true
		}
		if rd.Complete {
			rd.Err = nil
		} else if rd.Err == nil {
			rd.Err = errIncomplete
		}
		h.onRead(context.WithoutCancel(r.Context()), rd)
	}()
	serve(rw, r)
	returned = true
}

// errIncomplete is Read.Err for a response that ended short without an
// error of its own, such as a handler's panic.
var errIncomplete = errors.New("httpapi: the response ended before it was complete")
