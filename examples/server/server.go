package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
)

// server is the host's own part: API keys, and configuration handlers that
// record what they do in the audit trail.
type server struct {
	store  auditevents.Store
	rec    *auditevents.Recorder
	keys   map[string]string // API key -> account
	logger *slog.Logger

	// mu guards configs, each configuration's version counter, and
	// nothing else: the store's Append runs outside it, so concurrent
	// changes share the store's group commits.
	mu      sync.Mutex
	configs map[configKey]*configState
}

// configKey names a configuration of an account.
type configKey struct{ account, name string }

// configState is what this example keeps of a configuration (it keeps no
// configurations, only their history): its version and whether it exists.
type configState struct {
	version int
	exists  bool
	changes int // changes made, to undo a failed one only if none followed
}

func newServer(store auditevents.Store, keys map[string]string, logger *slog.Logger) *server {
	return &server{store: store, rec: auditevents.NewRecorder(store, nil), keys: keys, logger: logger, configs: make(map[configKey]*configState)}
}

// routes mounts the host's own routes beside the audit API.
func (s *server) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("PUT /v1/configurations/{name}", s.putConfiguration)
	mux.HandleFunc("DELETE /v1/configurations/{name}", s.deleteConfiguration)
}

// caller identifies the client of r by its API key: the account the key
// belongs to, and a user name derived from the key. The key itself is never
// recorded.
func (s *server) caller(r *http.Request) (account, user string, err error) {
	key := r.Header.Get("X-Bindplane-Api-Key")
	if key == "" {
		return "", "", fmt.Errorf("%w: missing X-Bindplane-Api-Key header", httpapi.ErrUnauthorized)
	}
	account, ok := s.keys[key]
	if !ok {
		return "", "", fmt.Errorf("%w: unknown API key", httpapi.ErrUnauthorized)
	}
	sum := sha256.Sum256([]byte(key))
	return account, "apikey-" + hex.EncodeToString(sum[:4]), nil
}

// authorizeRead is the audit API's authorization hook.
func (s *server) authorizeRead(r *http.Request) (string, error) {
	account, _, err := s.caller(r)
	return account, err
}

func (s *server) putConfiguration(w http.ResponseWriter, r *http.Request) {
	s.changeConfiguration(w, r, false)
}

func (s *server) deleteConfiguration(w http.ResponseWriter, r *http.Request) {
	s.changeConfiguration(w, r, true)
}

// changeConfiguration creates, modifies or deletes a configuration (this
// example keeps no configurations, only their history) and records it.
func (s *server) changeConfiguration(w http.ResponseWriter, r *http.Request, del bool) {
	account, user, err := s.caller(r)
	if err != nil {
		writeError(w, http.StatusUnauthorized, "missing or invalid API key: send it in the X-Bindplane-Api-Key header")
		return
	}
	name := r.PathValue("name")
	if !validName(name) {
		writeError(w, http.StatusBadRequest, "invalid configuration name "+strconv.Quote(name)+": use 1 to 64 letters, digits, '.', '-' or '_'")
		return
	}
	key := configKey{account, name}
	st, err := s.state(r.Context(), key)
	if err != nil {
		s.logger.Error("reading configuration history", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	e := auditevents.AuditEvent{
		Account:      account,
		User:         user,
		ResourceKind: auditevents.KindConfiguration,
		ResourceName: name,
	}
	// The client's address, user agent and request ID, which
	// httpapi.ActorMiddleware put in the context: what
	// Recorder.RecordWithActor does, here before Stamp, as this handler
	// stamps under its lock and appends outside it.
	if a, ok := auditevents.ActorFromContext(r.Context()); ok {
		e.SetActor(a)
	}

	// Take the next version and stamp the event under the lock, so that
	// versions follow the events' order; append outside it.
	s.mu.Lock()
	before := *st
	version, status := st.version, http.StatusOK
	switch {
	case del && !st.exists:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "configuration "+strconv.Quote(name)+" does not exist")
		return
	case del:
		e.Action, e.Description = auditevents.ActionDeleted, "Configuration "+name+" deleted"
	case st.exists:
		version++
		e.Action, e.Description = auditevents.ActionModified, fmt.Sprintf("Configuration %s modified to version %d", name, version)
	default:
		version++
		status = http.StatusCreated
		e.Action, e.Description = auditevents.ActionCreated, fmt.Sprintf("Configuration %s created at version %d", name, version)
	}
	e.Configuration = name + ":" + strconv.Itoa(version)
	err = s.rec.Stamp(&e)
	if err == nil {
		st.version, st.exists, st.changes = version, !del, st.changes+1
	}
	s.mu.Unlock()
	if err != nil {
		s.logger.Error("stamping an audit event", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}

	if err := s.store.Append(r.Context(), e); err != nil {
		// Undo the change, unless another one has built on it meanwhile:
		// that one stands, and this version stays unused, as a database
		// sequence's number does after a failed insert.
		s.mu.Lock()
		if st.changes == before.changes+1 {
			st.version, st.exists = before.version, before.exists
			st.changes++
		}
		s.mu.Unlock()
		s.logger.Error("recording an audit event", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(e.AppendJSON(nil), '\n'))
}

// recordRead is the audit API's OnRead hook with -audit-reads: it records
// each read of the audit trail by a known caller as an event of the
// caller's account, with the caller's address and request ID. It runs once
// per request, after the response, so reading these events is one more
// read, never a loop.
func (s *server) recordRead(ctx context.Context, rd httpapi.Read) {
	if !rd.Authorized {
		return // 401 and 405: no caller to name
	}
	_, user, err := s.caller(rd.Request)
	if err != nil {
		return
	}
	e := rd.Event()
	e.User = user
	if err := s.rec.RecordWithActor(ctx, e); err != nil {
		s.logger.Error("recording a read of the audit trail", "err", err)
	}
}

// state returns the state of a configuration, read from its history in
// the audit trail the first time it is asked for. The caller reads and
// changes it under s.mu.
func (s *server) state(ctx context.Context, key configKey) (*configState, error) {
	s.mu.Lock()
	st := s.configs[key]
	s.mu.Unlock()
	if st != nil {
		return st, nil
	}
	// Read outside the lock; if another request got here first, its
	// state wins, and it may already have changed.
	loaded := &configState{}
	q := auditevents.Query{Configuration: key.name, ResourceKind: auditevents.KindConfiguration, Limit: 1}.InAccount(key.account)
	for e, err := range s.store.Query(ctx, q) {
		if err != nil {
			return nil, err
		}
		_, v := auditevents.SplitConfiguration(e.Configuration)
		loaded.version, _ = strconv.Atoi(v)
		loaded.exists = e.Action != auditevents.ActionDeleted
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st = s.configs[key]; st == nil {
		st = loaded
		s.configs[key] = st
	}
	return st, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// writeError answers with the API's error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string][]string{"errors": {msg}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// logRequests logs every request with log/slog once it is answered, with
// the client's address and the request's ID that httpapi.ActorMiddleware,
// in front of it, found.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			a, _ := auditevents.ActorFromContext(r.Context())
			logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.status,
				"bytes", rw.bytes, "duration", time.Since(start).Round(time.Microsecond),
				"client", a.IPAddress, "request_id", a.RequestID)
		}()
		next.ServeHTTP(rw, r)
	})
}

// statusWriter records the status and size of a response. It unwraps to the
// original writer, so http.ResponseController (which the audit API uses to
// flush streamed responses) still reaches it.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets handlers that assert http.Flusher directly stream too.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
