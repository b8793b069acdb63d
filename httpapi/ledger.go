package httpapi

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The paths of the verifiable log's endpoints, below [Options.Prefix]. They
// are an extension of the audit events API, described by openapi-log.json
// in this package's directory.
const (
	CheckpointPath  = "/audit-events/log/checkpoint"
	EntriesPath     = "/audit-events/log/entries"
	InclusionPath   = "/audit-events/log/inclusion"
	ConsistencyPath = "/audit-events/log/consistency"
	HashesPath      = "/audit-events/log/hashes"
)

// contentLogEntries is the Content-Type of the entries endpoint.
const contentLogEntries = "application/jsonl"

// MaxHashes is the most stored hashes one request of the hashes endpoint
// reads.
const MaxHashes = 256

// LogOptions configures the verifiable log's endpoints.
type LogOptions struct {
	// Name is the log's name, which with the account makes the origin of
	// its checkpoints ([auditevents.Origin]), such as "example.com/audit".
	// Required.
	Name string
	// Signer signs the checkpoints: a note.Signer from note.NewSigner and
	// a key of [auditevents.GenerateKey]. Required.
	Signer note.Signer
}

// logEndpoints serves the verifiable log of a Handler's store.
type logEndpoints struct {
	h      *Handler
	ledger auditevents.Ledger
	opts   LogOptions
	all    []Route // the endpoints, built once by newLogEndpoints
}

// hashUnavailable starts the message of the 409 answer of the log's
// endpoints for auditevents.ErrHashUnavailable, which LogClient turns back
// into that error.
const hashUnavailable = "hash unavailable"

// entryLine is one line of the entries endpoint.
type entryLine struct {
	Seq    int64                   `json:"seq"`
	Pruned int64                   `json:"pruned,omitempty"`
	Event  *auditevents.AuditEvent `json:"event,omitempty"`
}

// appendEntryLine appends e as a line of the entries endpoint, with the
// fields in the order of entryLine: {"seq":…,"event":{…}} for an event,
// {"seq":…,"pruned":…} for a pruned run, and a newline. The event is written
// by AuditEvent.AppendJSON, the encoder of the list endpoint.
func appendEntryLine(dst []byte, e *auditevents.Entry) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, e.Seq, 10)
	if e.Pruned > 0 {
		dst = append(dst, `,"pruned":`...)
		dst = strconv.AppendInt(dst, e.Pruned, 10)
	} else {
		dst = append(dst, `,"event":`...)
		dst = e.Event.AppendJSON(dst)
	}
	return append(dst, "}\n"...)
}

// proofBody is the body of the inclusion and consistency endpoints.
type proofBody struct {
	ID    string      `json:"id,omitempty"`
	Seq   *int64      `json:"seq,omitempty"`
	From  *int64      `json:"from,omitempty"`
	Size  int64       `json:"size"`
	Proof []tlog.Hash `json:"proof"`
}

func newLogEndpoints(h *Handler, o *LogOptions) (*logEndpoints, error) {
	if o == nil {
		return nil, nil
	}
	l, ok := h.store.(auditevents.Ledger)
	if !ok {
		return nil, fmt.Errorf("%w: Log is set but the store keeps no verifiable log (it does not implement auditevents.Ledger)", ErrInvalidOptions)
	}
	if o.Name == "" || o.Signer == nil {
		return nil, fmt.Errorf("%w: Log needs a Name and a Signer", ErrInvalidOptions)
	}
	le := &logEndpoints{h: h, ledger: l, opts: *o}
	le.all = []Route{
		{Method: http.MethodGet, Pattern: CheckpointPath, Handler: le.handler(CheckpointPath, le.checkpoint)},
		{Method: http.MethodGet, Pattern: EntriesPath, Handler: le.handler(EntriesPath, le.entries, "from")},
		{Method: http.MethodGet, Pattern: InclusionPath, Handler: le.handler(InclusionPath, le.inclusion, "id", "size")},
		{Method: http.MethodGet, Pattern: ConsistencyPath, Handler: le.handler(ConsistencyPath, le.consistency, "from", "to")},
		{Method: http.MethodGet, Pattern: HashesPath, Handler: le.handler(HashesPath, le.hashes, "index")},
	}
	return le, nil
}

// handler wraps a log endpoint with the checks every endpoint makes: the
// method, the size of the query, authorization and parsing. The account is
// the one Authorize returns; without Authorize, the "account" parameter.
//
// Every endpoint also takes "account", and params are the others it takes:
// an unknown parameter, or one given twice ("index" excepted), is a 400, as
// on the listing. Without Authorize, "account" names the account (UTF-8
// without NUL, at most [auditevents.MaxNameBytes] bytes); with Authorize it
// may only repeat the account the credentials give, so that a client such
// as `auditevents verify -account` is told when it asks for another.
//
// Its entries are never redacted (Options.Redact): each is proven against
// its leaf, which hashes the whole event.
func (le *logEndpoints) handler(pattern string, serve func(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, v url.Values), params ...string) http.Handler {
	ep := &endpoint{h: le.h, pattern: pattern, errorType: contentJSON, maxParams: MaxHashes + 1} // the indexes and the account
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		le.h.observe(pattern, w, r, func(w http.ResponseWriter, r *http.Request) { le.serve(ep, serve, params, w, r) })
	})
}

// serve makes the checks of handler, then serves the request.
func (le *logEndpoints) serve(ep *endpoint, serve func(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, v url.Values), params []string, w http.ResponseWriter, r *http.Request) {
	account, v, ok := ep.begin(w, r)
	if !ok {
		return
	}
	if err := checkLogParams(v, le.h.authorize != nil, account, params); err != nil {
		ep.queryFailed(w, r, false, err)
		return
	}
	if le.h.authorize == nil {
		account = v.Get("account")
	}
	if rd := readOf(w); rd != nil {
		rd.Account = account
	}
	serve(ep, w, r, account, v)
}

// checkLogParams refuses what a log endpoint does not take: a parameter
// other than "account" and params, one given twice ("index" excepted), an
// "account" that no event can hold, or, with Authorize, an "account" other
// than the authorized one.
func checkLogParams(v url.Values, authorized bool, account string, params []string) error {
	for k, vs := range v {
		if k != "account" && !slices.Contains(params, k) {
			accepted := append([]string{"account"}, params...)
			return &auditevents.QueryError{Param: "parameter", Value: k, Reason: "unknown parameter; this endpoint accepts " + strings.Join(accepted, ", ")}
		}
		if len(vs) > 1 && k != "index" {
			return &auditevents.QueryError{Param: k, Value: vs[1], Reason: "given more than once; give it once"}
		}
	}
	if !v.Has("account") {
		return nil
	}
	a := v.Get("account")
	if len(a) > auditevents.MaxNameBytes || !utf8.ValidString(a) || strings.IndexByte(a, 0) >= 0 {
		return &auditevents.QueryError{Param: "account", Value: a, Reason: fmt.Sprintf("expected an account's name: UTF-8 without NUL, at most %d bytes", auditevents.MaxNameBytes)}
	}
	if authorized && a != account {
		return &auditevents.QueryError{Param: "account", Value: a, Reason: "is not the account these credentials may read"}
	}
	return nil
}

// intParam parses a non-negative decimal parameter.
func intParam(v url.Values, name string) (int64, error) {
	s := v.Get(name)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, &auditevents.QueryError{Param: name, Value: s, Reason: "expected a whole number from 0"}
	}
	return n, nil
}

// checkpoint answers a signed checkpoint of the account's tree now, as
// text/plain: the signed note.
func (le *logEndpoints) checkpoint(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, _ url.Values) {
	msg, _, err := auditevents.MakeCheckpoint(r.Context(), le.ledger, le.opts.Name, account, le.opts.Signer)
	if err != nil {
		le.failed(ep, w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)))
	if rd := readOf(w); rd != nil {
		rd.Complete = true
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(msg)
	}
}

// entries streams the account's log from "from" (default 0) as JSON Lines.
func (le *logEndpoints) entries(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, v url.Values) {
	var from int64
	if v.Has("from") {
		var err error
		if from, err = intParam(v, "from"); err != nil {
			ep.queryFailed(w, r, false, err)
			return
		}
	}
	lines := &endpoint{h: ep.h, errorType: ep.errorType, bodyType: contentLogEntries}
	sw := lines.newBodyWriter(w, r, true)
	bw := bufio.NewWriterSize(sw, flushBytes)
	var line []byte
	n := 0
	if rd := readOf(w); rd != nil {
		defer func() { rd.Events = n }() // also when the response is aborted
	}
	for e, err := range le.ledger.Entries(r.Context(), account, from) {
		if err != nil {
			ep.queryFailed(w, r, sw.started, err)
			return
		}
		line = appendEntryLine(line[:0], &e)
		if _, err := bw.Write(line); err != nil {
			ep.writeFailed(w, r, sw.started, err)
			return
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		ep.writeFailed(w, r, sw.started, err)
		return
	}
	if !sw.started { // an empty log
		lines.setSuccessHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
	}
	sw.finish(n)
}

// inclusion answers the proof that the event "id" is in the account's tree
// of size "size" (default: the current size).
func (le *logEndpoints) inclusion(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, v url.Values) {
	ctx := r.Context()
	id := v.Get("id")
	entry, err := le.ledger.Lookup(ctx, id)
	if err == nil && entry.Event.Account != account {
		err = auditevents.ErrNotFound // another account's event is not shown
	}
	if errors.Is(err, auditevents.ErrNotFound) {
		err = &auditevents.QueryError{Param: "id", Value: id, Reason: "no event of this account has this ID"}
	}
	if err != nil {
		ep.queryFailed(w, r, false, err)
		return
	}
	size, err := le.size(ep, r, account, v, "size")
	if err == nil && size <= entry.Seq {
		err = &auditevents.QueryError{Param: "size", Value: strconv.FormatInt(size, 10), Reason: fmt.Sprintf("the event has sequence %d, so it is in trees of size %d and more", entry.Seq, entry.Seq+1)}
	}
	if err != nil {
		ep.queryFailed(w, r, false, err)
		return
	}
	p, err := auditevents.ProveInclusion(ctx, le.ledger, account, entry.Seq, size)
	if err != nil {
		le.failed(ep, w, r, err)
		return
	}
	writeJSON(w, r, proofBody{ID: entry.Event.ID, Seq: &entry.Seq, Size: size, Proof: p})
}

// size returns the size parameter, or the current tree size when absent.
func (le *logEndpoints) size(ep *endpoint, r *http.Request, account string, v url.Values, name string) (int64, error) {
	if v.Has(name) {
		return intParam(v, name)
	}
	return le.ledger.TreeSize(r.Context(), account)
}

// consistency answers the proof that the account's tree of size "from" is a
// prefix of its tree of size "to" (default: the current size).
func (le *logEndpoints) consistency(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, v url.Values) {
	from, err := intParam(v, "from")
	if err != nil {
		ep.queryFailed(w, r, false, err)
		return
	}
	to, err := le.size(ep, r, account, v, "to")
	if err != nil {
		ep.queryFailed(w, r, false, err)
		return
	}
	p, err := auditevents.ProveConsistency(r.Context(), le.ledger, account, from, to)
	if err != nil {
		le.failed(ep, w, r, err)
		return
	}
	writeJSON(w, r, proofBody{From: &from, Size: to, Proof: p})
}

// hashes answers the account's stored hashes at the "index" parameters, a
// JSON array of base64 strings.
func (le *logEndpoints) hashes(ep *endpoint, w http.ResponseWriter, r *http.Request, account string, v url.Values) {
	raw := v["index"]
	if len(raw) == 0 || len(raw) > MaxHashes {
		ep.writeError(w, r, http.StatusBadRequest, fmt.Sprintf("invalid index: give from 1 to %d index parameters", MaxHashes))
		return
	}
	indexes := make([]int64, len(raw))
	for i, s := range raw {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			ep.queryFailed(w, r, false, &auditevents.QueryError{Param: "index", Value: s, Reason: "expected a whole number from 0"})
			return
		}
		indexes[i] = n
	}
	hs, err := le.ledger.ReadHashes(r.Context(), account, indexes)
	if err != nil {
		le.failed(ep, w, r, err)
		return
	}
	writeJSON(w, r, hs)
}

// failed answers the error of a log endpoint before its body: a hash the
// store cannot compute again from its events (auditevents.ErrHashUnavailable)
// is damage the store found, which a verifier works around, so a 409 whose
// message starts with hashUnavailable and no server error; any other error
// as queryFailed answers it.
func (le *logEndpoints) failed(ep *endpoint, w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, auditevents.ErrHashUnavailable) && r.Context().Err() == nil {
		le.h.logger.LogAttrs(r.Context(), slog.LevelWarn, "auditevents: a stored hash cannot be recomputed", slog.String("path", r.URL.Path), slog.Any("error", err))
		ep.writeError(w, r, http.StatusConflict, hashUnavailable+": the store computes a requested hash from events that were changed or removed")
		return
	}
	ep.queryFailed(w, r, false, err)
}

// writeJSON sends v as a whole JSON body with status 200.
func writeJSON(w http.ResponseWriter, r *http.Request, v any) {
	body, err := json.Marshal(v)
	if err != nil { // cannot happen: hashes and numbers always marshal
		panic(err)
	}
	w.Header().Set("Content-Type", contentJSON)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if rd := readOf(w); rd != nil {
		rd.Complete = true
	}
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
