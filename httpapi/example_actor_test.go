package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
)

// Record who changed what from where: the middleware puts the client's
// address, user agent and request ID in each request's context, and
// RecordWithActor copies them into the event. Behind a reverse proxy, list
// it in TrustedProxies; X-Forwarded-For from anyone else is ignored.
func ExampleActorMiddleware() {
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, nil)

	actor, err := httpapi.ActorMiddleware(&httpapi.ActorOptions{
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		EchoRequestID:  true,
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /configurations/{name}", func(w http.ResponseWriter, r *http.Request) {
		err := rec.RecordWithActor(r.Context(), auditevents.AuditEvent{
			User: "alice", Action: auditevents.ActionModified,
			ResourceKind: auditevents.KindConfiguration, ResourceName: r.PathValue("name"),
		})
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
		}
	})
	handler := actor(mux)

	// A request through the proxy at 10.0.0.1, from a client that tried to
	// pass for 203.0.113.66.
	req := httptest.NewRequest(http.MethodPut, "/configurations/prod", nil)
	req.RemoteAddr = "10.0.0.1:50712"
	req.Header.Set("X-Forwarded-For", "203.0.113.66, 198.51.100.3")
	req.Header.Set("User-Agent", "curl/8.5.0")
	req.Header.Set("X-Request-ID", "req-7f3a")
	res := httptest.NewRecorder()
	handler.ServeHTTP(res, req)
	fmt.Println("echoed:", res.Header().Get("X-Request-ID"))

	for e, err := range store.Query(context.Background(), auditevents.Query{RequestID: "req-7f3a"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.User, e.Action, e.ResourceName, "from", e.IPAddress, "with", e.UserAgent, "in", e.RequestID)
	}
	// Output:
	// echoed: req-7f3a
	// alice Modified prod from 198.51.100.3 with curl/8.5.0 in req-7f3a
}

// audienceKey is the context key of the audience a host's middleware
// found for a request.
type audienceKey struct{}

// Mask IP addresses for one audience: the support team sees the network of
// each address, the security team whole addresses. The host's middleware
// tells them apart and puts the audience in the request's context, where
// the Redactor reads it. Stored events keep whole addresses.
func ExampleRedaction() {
	store := memstore.New()
	defer store.Close()
	ctx := auditevents.ContextWithActor(context.Background(), auditevents.Actor{IPAddress: "192.0.2.77", RequestID: "req-1"})
	err := auditevents.NewRecorder(store, nil).RecordWithActor(ctx, auditevents.AuditEvent{
		User: "alice", Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAgent, ResourceName: "agent-7",
	})
	if err != nil {
		log.Fatal(err)
	}

	mask, err := auditevents.MaskIPAddress(24, 48) // 192.0.2.77 -> 192.0.2.0
	if err != nil {
		log.Fatal(err)
	}
	forSupport := func(ctx context.Context, e *auditevents.AuditEvent) {
		if ctx.Value(audienceKey{}) != "security" {
			mask(ctx, e)
		}
	}
	api, err := httpapi.New(store, &httpapi.Options{
		// The same Redactor for every output that support reads.
		Redact: httpapi.Redaction{List: forSupport, Download: forSupport, Tail: forSupport},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	// The host's authentication middleware: here, a header names the team.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), audienceKey{}, r.Header.Get("X-Team"))
		mux.ServeHTTP(w, r.WithContext(ctx))
	})

	for _, team := range []string{"support", "security"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/audit-events/download?format=jsonl", nil)
		req.Header.Set("X-Team", team)
		res := httptest.NewRecorder()
		handler.ServeHTTP(res, req)
		body, _ := io.ReadAll(res.Body)
		_, rest, _ := strings.Cut(string(body), `"ipAddress"`)
		fmt.Printf("%s: \"ipAddress\"%s", team, rest)
	}
	// Output:
	// support: "ipAddress":"192.0.2.0","requestId":"req-1"}
	// security: "ipAddress":"192.0.2.77","requestId":"req-1"}
}

// Audit the readers of the audit trail: each request to the API is
// recorded as an event of its own, of the kind AuditTrail, with the
// reader's address and request ID from ActorMiddleware. OnRead runs once
// per request, after its response, so a listing never sees the read it
// is making, and reading the reads is one more read, not a loop.
func ExampleRead_Event() {
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, nil)
	api, err := httpapi.New(store, &httpapi.Options{
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("X-Bindplane-Api-Key") != "secret" {
				return "", httpapi.ErrUnauthorized
			}
			return "", nil
		},
		OnRead: func(ctx context.Context, rd httpapi.Read) {
			if !rd.Authorized {
				return // no caller to name; count these in metrics instead
			}
			e := rd.Event()
			e.User = "apikey-secret" // who the host's Authorize found
			if err := rec.RecordWithActor(ctx, e); err != nil {
				log.Printf("recording a read: %v", err)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	actor, err := httpapi.ActorMiddleware(nil)
	if err != nil {
		log.Fatal(err)
	}
	handler := actor(mux)

	for _, target := range []string{
		"/v1/audit-events?user=alice",
		"/v1/audit-events/download",
		"/v1/audit-events?resource-kind=AuditTrail",
	} {
		req := httptest.NewRequest(http.MethodGet, target, nil)
		req.RemoteAddr = "192.0.2.7:50712"
		req.Header.Set("X-Bindplane-Api-Key", "secret")
		req.Header.Set("X-Request-ID", "req-"+fmt.Sprint(len(target)))
		handler.ServeHTTP(httptest.NewRecorder(), req)
	}
	events, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{ResourceKind: auditevents.KindAuditTrail}))
	if err != nil {
		log.Fatal(err)
	}
	for i := len(events) - 1; i >= 0; i-- { // oldest first
		e := events[i]
		fmt.Println(e.User, e.Action, e.ResourceName, "from", e.IPAddress, e.RequestID+":", e.Description)
	}
	// Output:
	// apikey-secret Read /audit-events from 192.0.2.7 req-27: GET /v1/audit-events?user=alice: status 200, 0 events
	// apikey-secret Exported /audit-events/download from 192.0.2.7 req-25: GET /v1/audit-events/download: status 200, 1 event as csv
	// apikey-secret Read /audit-events from 192.0.2.7 req-41: GET /v1/audit-events?resource-kind=AuditTrail: status 200, 2 events
}
