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

	mu sync.Mutex // serialises configuration changes, so versions do not race
}

func newServer(store auditevents.Store, keys map[string]string, logger *slog.Logger) *server {
	return &server{store: store, rec: auditevents.NewRecorder(store, nil), keys: keys, logger: logger}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	last, err := s.latest(r.Context(), account, name)
	if err != nil {
		s.logger.Error("reading configuration history", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	exists := last != nil && last.Action != auditevents.ActionDeleted
	version := 0
	if last != nil {
		_, v := auditevents.SplitConfiguration(last.Configuration)
		version, _ = strconv.Atoi(v)
	}
	e := auditevents.AuditEvent{
		Account:      account,
		User:         user,
		ResourceKind: auditevents.KindConfiguration,
		ResourceName: name,
	}
	status := http.StatusOK
	switch {
	case del && !exists:
		writeError(w, http.StatusNotFound, "configuration "+strconv.Quote(name)+" does not exist")
		return
	case del:
		e.Action, e.Description = auditevents.ActionDeleted, "Configuration "+name+" deleted"
	case exists:
		version++
		e.Action, e.Description = auditevents.ActionModified, fmt.Sprintf("Configuration %s modified to version %d", name, version)
	default:
		version++
		status = http.StatusCreated
		e.Action, e.Description = auditevents.ActionCreated, fmt.Sprintf("Configuration %s created at version %d", name, version)
	}
	e.Configuration = name + ":" + strconv.Itoa(version)
	if err := s.rec.Stamp(&e); err != nil {
		s.logger.Error("stamping an audit event", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	if err := s.store.Append(r.Context(), e); err != nil {
		s.logger.Error("recording an audit event", "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(e.AppendJSON(nil), '\n'))
}

// latest returns the newest event about the configuration name in account,
// or nil when there is none.
func (s *server) latest(ctx context.Context, account, name string) (*auditevents.AuditEvent, error) {
	q := auditevents.Query{Configuration: name, ResourceKind: auditevents.KindConfiguration, Limit: 1}.InAccount(account)
	for e, err := range s.store.Query(ctx, q) {
		if err != nil {
			return nil, err
		}
		return &e, nil
	}
	return nil, nil
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

// logRequests logs every request with log/slog once it is answered.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			logger.Info("request", "method", r.Method, "path", r.URL.Path, "status", rw.status,
				"bytes", rw.bytes, "duration", time.Since(start).Round(time.Microsecond))
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
