package httpapi

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
)

// TailPath is the path of the live tail, below [Options.Prefix]: an
// extension of the audit events API that streams an account's events as
// Server-Sent Events as they are committed. [Options.Tail] enables it.
const TailPath = "/audit-events/tail"

// The live tail's own parameters, beside the filters of
// [auditevents.ParseQuery].
const (
	// ParamFrom is the sequence the tail starts at: "0" streams the
	// account's whole log, then its new events. Without it (and without
	// a Last-Event-ID header) the tail streams only events committed
	// after the request.
	ParamFrom = "from"
	// ParamAccount names the account to tail when [Options.Authorize] is
	// nil; "" (the default) is the account of single-account installs.
	// With Authorize the account is the one it returns, and the parameter
	// is refused.
	ParamAccount = "account"
)

// LastEventIDHeader is the header in which a client that reconnects to the
// live tail gives the id of the last event it received, as EventSource
// sends it: the tail resumes with the sequence after it.
const LastEventIDHeader = "Last-Event-ID"

// Defaults of [TailOptions].
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultTailPoll     = time.Second
	DefaultMaxTailConns = 1000
)

// tailScan bounds how many entries of the log one read looks at, so that a
// tail whose filters pass over most events still writes (heartbeats, and
// notices a client that left) at a bounded interval.
const tailScan = 4096

// TailOptions configures the live tail (see [TailPath]). The zero value
// means the defaults given for each field.
type TailOptions struct {
	// Heartbeat is the interval of the comment lines (": heartbeat")
	// that keep an idle stream open through proxies and let the server
	// notice a client that has gone. Zero means [DefaultHeartbeat].
	Heartbeat time.Duration

	// PollInterval is how often the tail reads the log for new events
	// when the store does not implement [auditevents.Notifier]
	// (store/pgstore); a store that does (store/memstore,
	// store/boltstore) wakes the tail at each commit instead, and is
	// never polled. Zero means [DefaultTailPoll].
	PollInterval time.Duration

	// MaxConns is the most live tails served at once; one more is
	// answered with 503 Service Unavailable. Each holds a bounded amount
	// of memory (see the package doc's "Live tail"), so this bounds the
	// tails' memory.
	// Zero means [DefaultMaxTailConns]; a negative value means no limit.
	MaxConns int

	// Done, when closed, ends every tail, cleanly, so that EventSource
	// clients reconnect (to another replica, or once the host is back).
	// http.Server.Shutdown waits for connections to become idle, which a
	// tail never does: a host closes Done when it shuts down, such as
	// with http.Server.RegisterOnShutdown. Nil means tails end only when
	// their clients leave or are dropped, or the store fails.
	Done <-chan struct{}

	// NewTicker returns a channel that delivers a tick every d, and a
	// function that stops it, for the heartbeats and the polling. Nil
	// means a time.Ticker. Tests give their own to tick by hand.
	NewTicker func(d time.Duration) (ticks <-chan time.Time, stop func())
}

// tailEndpoint serves the live tail of a Handler's store.
type tailEndpoint struct {
	ep        *endpoint
	ledger    auditevents.Ledger
	notifier  auditevents.Notifier // nil: poll
	heartbeat time.Duration
	poll      time.Duration
	maxConns  int
	newTicker func(time.Duration) (<-chan time.Time, func())
	done      <-chan struct{}
	conns     atomic.Int64
}

func newTail(h *Handler, o *TailOptions) (*tailEndpoint, error) {
	if o == nil {
		return nil, nil
	}
	l, ok := h.store.(auditevents.Ledger)
	if !ok {
		return nil, fmt.Errorf("%w: Tail is set but the store keeps no per-account log to tail (it does not implement auditevents.Ledger)", ErrInvalidOptions)
	}
	if o.Heartbeat < 0 || o.PollInterval < 0 {
		return nil, fmt.Errorf("%w: Tail.Heartbeat and Tail.PollInterval must not be negative", ErrInvalidOptions)
	}
	t := &tailEndpoint{
		ep:        &endpoint{h: h, pattern: TailPath, errorType: contentJSON, sse: true, redact: h.redact.Tail},
		ledger:    l,
		heartbeat: cmpOr(o.Heartbeat, DefaultHeartbeat),
		poll:      cmpOr(o.PollInterval, DefaultTailPoll),
		maxConns:  orDefault(o.MaxConns, DefaultMaxTailConns),
		newTicker: o.NewTicker,
		done:      o.Done,
	}
	t.notifier, _ = h.store.(auditevents.Notifier)
	if t.newTicker == nil {
		t.newTicker = func(d time.Duration) (<-chan time.Time, func()) {
			tk := time.NewTicker(d)
			return tk.C, tk.Stop
		}
	}
	return t, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Tail returns the handler of GET Prefix+"/audit-events/tail", the live
// tail, or nil when [Options.Tail] is not set. It serves whatever path it
// is mounted at, and it is the Handler of that route in [Handler.Routes].
func (h *Handler) Tail() http.Handler {
	if h.tail == nil {
		return nil
	}
	return h.tail
}

// setTailHeaders sets the headers of the live tail's 200 response.
func setTailHeaders(hdr http.Header) {
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass each event on at once
}

func (t *tailEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.ep.h.observe(TailPath, w, r, t.serve)
}

func (t *tailEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	ep := t.ep
	account, values, ok := ep.begin(w, r)
	if !ok {
		return
	}
	q, start, err := t.parse(r, account, values)
	if rd := readOf(w); rd != nil && q.Account != nil {
		rd.Account, rd.Query = *q.Account, q
	}
	if err != nil {
		ep.queryFailed(w, r, false, err)
		return
	}
	if t.maxConns > 0 {
		if n := t.conns.Add(1); n > int64(t.maxConns) {
			t.conns.Add(-1)
			w.Header().Set("Retry-After", "10")
			ep.writeError(w, r, http.StatusServiceUnavailable, fmt.Sprintf("too many live tails (%d); try again later", t.maxConns))
			return
		}
		defer t.conns.Add(-1)
	}
	if r.Method == http.MethodHead {
		setTailHeaders(w.Header())
		w.WriteHeader(http.StatusOK)
		return
	}
	t.stream(w, r, q, start)
}

// parse reads the tail's parameters: the account (see ParamAccount), the
// filters of ParseQuery but limit and cursor, and where to start: after
// the Last-Event-ID header's sequence, at ParamFrom, or at the tree's size.
func (t *tailEndpoint) parse(r *http.Request, account string, values url.Values) (auditevents.Query, int64, error) {
	var q auditevents.Query
	accepted := []string{ParamFrom}
	if t.ep.h.authorize == nil {
		accepted = append(accepted, ParamAccount)
	}
	for _, p := range auditevents.Params() {
		if p != auditevents.ParamLimit && p != auditevents.ParamCursor {
			accepted = append(accepted, p)
		}
	}
	// In order, so that the same request gets the same error.
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if !slices.Contains(accepted, k) {
			return q, 0, t.refused(k, accepted)
		}
		if v := values[k]; len(v) > 1 {
			return q, 0, &auditevents.QueryError{Param: k, Value: strings.Join(v, ","), Reason: "given more than once; give it at most once"}
		}
	}
	q, err := auditevents.ParseQuery(without(values, ParamFrom, ParamAccount))
	if err != nil {
		return q, 0, err
	}
	if t.ep.h.authorize == nil {
		account = values.Get(ParamAccount)
		if len(account) > auditevents.MaxNameBytes || !utf8.ValidString(account) || strings.IndexByte(account, 0) >= 0 {
			return q, 0, &auditevents.QueryError{Param: ParamAccount, Value: account, Reason: fmt.Sprintf("expected an account's name: UTF-8 without NUL, at most %d bytes", auditevents.MaxNameBytes)}
		}
	}
	q = q.InAccount(account)

	size, err := t.ledger.TreeSize(r.Context(), account)
	if err != nil {
		return q, 0, err
	}
	start := size
	if s := values.Get(ParamFrom); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > size {
			return q, 0, &auditevents.QueryError{Param: ParamFrom, Value: s, Reason: "expected a sequence from 0 to the account's current tree size " + strconv.FormatInt(size, 10)}
		}
		start = n
	}
	if s := strings.TrimSpace(r.Header.Get(LastEventIDHeader)); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < -1 || n >= size {
			return q, 0, &auditevents.QueryError{Param: LastEventIDHeader, Value: s, Reason: "expected the id of an event of this stream: a sequence from -1 to " + strconv.FormatInt(size-1, 10)}
		}
		start = n + 1
	}
	return q, start, nil
}

// refused returns the error for the parameter name, which the tail does not
// accept.
func (t *tailEndpoint) refused(name string, accepted []string) error {
	reason := "unknown; the live tail accepts " + strings.Join(accepted, ", ")
	switch name {
	case ParamAccount:
		reason = "not accepted: the account is the one the credentials give"
	case auditevents.ParamLimit, auditevents.ParamCursor:
		reason = "not accepted by the live tail, which streams every matching event as it is committed; resume with the " + LastEventIDHeader + " header or " + ParamFrom
	}
	return &auditevents.QueryError{Param: "parameter", Value: name, Reason: reason}
}

// without returns values without the given keys.
func without(values url.Values, drop ...string) url.Values {
	out := make(url.Values, len(values))
	for k, v := range values {
		if !slices.Contains(drop, k) {
			out[k] = v
		}
	}
	return out
}

// stream writes the account's events that match q from sequence start on,
// as they are committed, until the client leaves, a write fails or the
// store fails. It reads the log in bounded chunks and never holds the
// store's iterator open across a write, so a stalled client holds no read
// of the store; each write has its own deadline (Options.WriteTimeout).
func (t *tailEndpoint) stream(w http.ResponseWriter, r *http.Request, q auditevents.Query, start int64) {
	ctx := r.Context()
	account := *q.Account
	out := t.ep.newBodyWriter(w, r, true)
	// sent is the id the client holds: it resumes after it. The first
	// message says where the stream starts, so that a client that
	// reconnects before any event resumes there, not at the new end.
	sent := start - 1
	buf := appendID(make([]byte, 0, flushBytes+4096), sent)
	if _, err := out.Write(buf); err != nil {
		t.ep.writeFailed(w, r, out.started, err)
		return
	}
	heartbeat, stopHeartbeat := t.newTicker(t.heartbeat)
	defer stopHeartbeat()
	var poll <-chan time.Time
	if t.notifier == nil {
		ticks, stop := t.newTicker(t.poll)
		defer stop()
		poll = ticks
	}
	pos := start // the next sequence to read
	rd := readOf(w)
	served := 0 // events written
	if rd != nil {
		defer func() { rd.Events = served }() // also when the response is aborted
	}
	for {
		var committed <-chan struct{}
		if t.notifier != nil {
			committed = t.notifier.Appended(account) // before reading: no commit is missed
		}
		for caughtUp := false; !caughtUp; {
			var err error
			buf, pos, sent, caughtUp, err = t.read(r, &q, pos, sent, buf[:0], &served)
			if err != nil {
				t.ep.queryFailed(w, r, true, err)
				return
			}
			if len(buf) > 0 {
				if _, err := out.Write(buf); err != nil {
					t.ep.writeFailed(w, r, true, err)
					return
				}
			}
			if cap(buf) > 4*flushBytes { // an outsized event: do not keep its buffer
				buf = make([]byte, 0, flushBytes+4096)
			}
		}
		select {
		case <-committed:
		case <-poll:
		case <-heartbeat:
			buf = append(buf[:0], ": heartbeat\n\n"...)
			if pos-1 > sent { // events passed over by the filters, or pruned
				sent = pos - 1
				buf = appendID(buf, sent)
			}
			if _, err := out.Write(buf); err != nil {
				t.ep.writeFailed(w, r, true, err)
				return
			}
		case <-ctx.Done():
			return
		case <-t.done:
			if rd != nil {
				rd.Complete = true
			}
			return
		}
	}
}

// read appends to buf the messages of the events that match q from
// sequence pos on, up to about flushBytes of them or tailScan entries, each
// through Options.Redact.Tail, and returns pos and sent moved past them,
// and whether it reached the end of the log. It adds the number of events
// appended to *served.
func (t *tailEndpoint) read(r *http.Request, q *auditevents.Query, pos, sent int64, buf []byte, served *int) ([]byte, int64, int64, bool, error) {
	scanned := 0
	for e, err := range t.ledger.Entries(r.Context(), *q.Account, pos) {
		if err != nil {
			return buf, pos, sent, false, err
		}
		if e.Pruned > 0 {
			pos = e.Seq + e.Pruned
		} else {
			pos = e.Seq + 1
			if q.Matches(&e.Event) {
				ev := &e.Event // the loop's own copy: a Redactor changes it in place
				t.ep.redact.ApplyTo(r.Context(), ev)
				buf = append(buf, "id: "...)
				buf = strconv.AppendInt(buf, e.Seq, 10)
				buf = append(buf, "\ndata: "...) // JSON holds no line break
				buf = append(ev.AppendJSON(buf), "\n\n"...)
				sent = e.Seq
				*served++
			}
		}
		if scanned++; scanned >= tailScan || len(buf) >= flushBytes {
			return buf, pos, sent, false, nil
		}
	}
	return buf, pos, sent, true, nil
}

// appendID appends a message that carries only an id: EventSource
// remembers it as the last event id, to send on reconnecting, and
// dispatches no event.
func appendID(buf []byte, id int64) []byte {
	buf = append(buf, "id: "...)
	buf = strconv.AppendInt(buf, id, 10)
	return append(buf, "\n\n"...)
}
