// Command embed shows the library inside a host that already has a router
// and middleware: the audit API is mounted beside the host's own routes, the
// host's middleware wraps both, and the host's handlers record events with
// the client's address, user agent and request ID
// (httpapi.ActorMiddleware).
//
//	AUDIT_API_KEY=secret go run ./examples/embed -db /tmp/embed.db
package main

import (
	"context"
	"crypto/subtle"
	"flag"
	"log"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/boltstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	db := flag.String("db", "embed.db", "bbolt file that keeps the events")
	flag.Parse()
	apiKey := []byte(os.Getenv("AUDIT_API_KEY"))
	if len(apiKey) == 0 {
		log.Fatal("set AUDIT_API_KEY to the key that clients must send")
	}
	if err := run(*addr, *db, apiKey); err != nil {
		log.Fatal(err)
	}
}

func run(addr, db string, apiKey []byte) error {
	// README:begin
	store, err := boltstore.Open(db, nil) // one process per file; nil options are the defaults
	if err != nil {
		return err
	}
	defer store.Close()

	api, err := httpapi.New(store, &httpapi.Options{
		// Confine every caller to its own account. Without Authorize the
		// endpoints are open to anyone who can reach them.
		Authorize: func(r *http.Request) (account string, err error) {
			key := r.Header.Get("X-Bindplane-Api-Key")
			if subtle.ConstantTimeCompare([]byte(key), apiKey) != 1 {
				return "", httpapi.ErrUnauthorized
			}
			return "", nil // single-account install
		},
	})
	if err != nil {
		return err
	}

	mux := http.NewServeMux()                         // the router the host already has
	api.Register(mux)                                 // GET /v1/audit-events and /v1/audit-events/download
	rec := auditevents.NewRecorder(store, nil)        // fills in IDs and timestamps
	mux.Handle("POST /v1/widgets", createWidget(rec)) // a host handler that records what it does
	// The client's address, User-Agent and X-Request-ID, for the events
	// the handlers record. Behind a reverse proxy, list it in
	// TrustedProxies; X-Forwarded-For from anyone else is ignored.
	actor, err := httpapi.ActorMiddleware(&httpapi.ActorOptions{EchoRequestID: true})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           actor(requestLog(mux)), // the host's middleware wraps both
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Bounds every response; the audit API moves the deadline before
		// each write it makes (httpapi.Options.WriteTimeout, a minute by
		// default), so a long download goes on while the client reads.
		WriteTimeout:   30 * time.Second,
		IdleTimeout:    time.Minute, // also closes a connection that sends half a request
		MaxHeaderBytes: 16 << 10,
	}
	return srv.ListenAndServe()
	// README:end
}

// createWidget is a host handler that records an audit event for what it
// does. Its test in main_test.go runs it against memstore.
func createWidget(rec *auditevents.Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.FormValue("name")
		if name == "" {
			http.Error(w, "name is required", http.StatusBadRequest)
			return
		}
		// RecordWithActor adds the client's address, user agent and
		// request ID that httpapi.ActorMiddleware put in the context.
		err := rec.RecordWithActor(r.Context(), auditevents.AuditEvent{
			User:         userOf(r),
			Action:       auditevents.ActionCreated,
			ResourceKind: auditevents.KindResourcePreset,
			ResourceName: name,
			Description:  "Widget " + name + " created",
		})
		if err != nil {
			slog.ErrorContext(r.Context(), "recording an audit event", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
}

// userOf returns who is calling; a real host reads its session or token.
func userOf(r *http.Request) string {
	if u := r.Header.Get("X-User"); u != "" {
		return u
	}
	return "anonymous"
}

// requestLog is the host's own middleware.
func requestLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		slog.InfoContext(context.WithoutCancel(r.Context()), "request", "method", r.Method, "path", r.URL.Path)
		next.ServeHTTP(w, r)
	})
}
