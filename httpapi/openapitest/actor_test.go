package openapitest

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
)

// actorSpecPath is the document of the actor context's extension, kept
// beside the httpapi package.
const actorSpecPath = "../openapi-actor.json"

// loadActorSpec loads the actor extension's document.
func loadActorSpec(tb testing.TB) (*openapi3.T, routers.Router) {
	tb.Helper()
	return loadExtension(tb, actorSpecPath)
}

// newActorStore returns a store whose events carry every combination of
// actor fields, beside events without any.
func newActorStore(tb testing.TB) auditevents.Store {
	tb.Helper()
	store := memstore.New()
	tb.Cleanup(func() { store.Close() })
	t0 := time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)
	actors := []auditevents.Actor{
		{},
		{IPAddress: "192.0.2.77", UserAgent: "curl/8.5.0", RequestID: "req-1"},
		{IPAddress: "2001:db8::5"},
		{UserAgent: "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" <b>", Metadata: map[string]string{"session": "s-1", "region": "eu-west-1", "note": "=cmd|' /C calc'!A0"}},
		{RequestID: "req-2", Metadata: map[string]string{"k": ""}},
		{},
	}
	rec := auditevents.NewRecorder(store, nil)
	for i, a := range actors {
		e := auditevents.AuditEvent{
			Timestamp: t0.Add(time.Duration(i) * time.Second), User: "alice",
			Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, ResourceName: "prod", Configuration: "prod:1",
		}
		if err := rec.RecordWithActor(auditevents.ContextWithActor(context.Background(), a), e); err != nil {
			tb.Fatal(err)
		}
	}
	return store
}

// TestActorResponsesMatchSpec validates responses for events with actor
// fields against both documents: the specification's, which allows the
// extension fields, and the extension's, which names them and allows no
// other. Events without them keep exactly the specification's fields.
func TestActorResponsesMatchSpec(t *testing.T) {
	specDoc, specRouter := loadSpec(t)
	actorDoc, actorRouter := loadActorSpec(t)
	store := newActorStore(t)
	open := newMux(t, store, nil)
	envelope := newMux(t, store, &httpapi.Options{Envelope: true})
	withColumns := newMux(t, store, &httpapi.Options{CSV: &auditevents.CSVOptions{ActorColumns: true}})
	tests := []struct {
		name    string
		handler http.Handler
		target  string
		status  int
		events  int // in a list response
	}{
		{"all events", open, "/v1/audit-events", 200, 6},
		{"ip-address", open, "/v1/audit-events?ip-address=192.0.2.0/24", 200, 1},
		{"ip-address IPv6", open, "/v1/audit-events?ip-address=2001:db8::5", 200, 1},
		{"request-id", open, "/v1/audit-events?request-id=req-2", 200, 1},
		{"page", open, "/v1/audit-events?limit=2", 200, 2},
		{"bad ip-address", open, "/v1/audit-events?ip-address=192.0.2.1/24", 400, 0},
		{"bad request-id", open, "/v1/audit-events?request-id=%00", 400, 0},
		{"download", open, "/v1/audit-events/download", 200, 0},
		{"download with actor columns", withColumns, "/v1/audit-events/download?ip-address=192.0.2.77", 200, 0},
		{"download bad ip-address", open, "/v1/audit-events/download?ip-address=x", 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			res := httptest.NewRecorder()
			tt.handler.ServeHTTP(res, req)
			if got, want := res.Code, tt.status; got != want {
				t.Fatalf("status: got %d, want %d; body %s", got, want, res.Body)
			}
			if err := validate(t, actorRouter, req, res); err != nil {
				t.Errorf("the response does not match %s: %v", actorSpecPath, err)
			}
			// The specification's document does not know the parameters,
			// so ask it about the response of a spec-shaped request.
			specReq := httptest.NewRequest(http.MethodGet, strings.Split(tt.target, "?")[0], nil)
			if err := validate(t, specRouter, specReq, res); err != nil {
				t.Errorf("the response does not match the specification's document: %v", err)
			}
			if res.Code != 200 || strings.HasSuffix(req.URL.Path, "/download") {
				return
			}
			var events []map[string]any
			if err := json.Unmarshal(res.Body.Bytes(), &events); err != nil {
				t.Fatal(err)
			}
			if len(events) != tt.events {
				t.Errorf("got %d events, want %d", len(events), tt.events)
			}
			spec := slices.Sorted(maps.Keys(specDoc.Components.Schemas["model.AuditEvent"].Value.Properties))
			actor := actorDoc.Components.Schemas["model.AuditEvent"].Value.Properties
			for i, e := range events {
				var extra []string
				for k := range e {
					if !slices.Contains(spec, k) {
						if actor[k] == nil {
							t.Errorf("event %d: field %q in neither document", i, k)
						}
						extra = append(extra, k)
					}
				}
				for _, k := range spec {
					if _, ok := e[k]; !ok {
						t.Errorf("event %d: no field %q", i, k)
					}
				}
				// An event without actor fields is the spec's model exactly.
				if e["ipAddress"] == nil && e["userAgent"] == nil && e["requestId"] == nil && e["metadata"] == nil && len(extra) > 0 {
					t.Errorf("event %d: extra fields %v", i, extra)
				}
			}
		})
	}
	// The envelope, as Bindplane's collector reads it, holds the same
	// events with their actor fields.
	res := httptest.NewRecorder()
	envelope.ServeHTTP(res, httptest.NewRequest(http.MethodGet, "/v1/audit-events", nil))
	var body struct {
		AuditEvents []map[string]any `json:"auditEvents"`
	}
	if err := json.Unmarshal(res.Body.Bytes(), &body); err != nil || len(body.AuditEvents) != 6 || body.AuditEvents[4]["ipAddress"] != "192.0.2.77" {
		t.Errorf("envelope: %v, %s", err, res.Body)
	}
}

// TestActorValidatorRejects makes sure the extension's document catches
// fields it does not name and actor fields of the wrong shape.
func TestActorValidatorRejects(t *testing.T) {
	_, router := loadActorSpec(t)
	for _, body := range []string{
		`[{"id":"x","ipAdress":"192.0.2.1"}]`,
		`[{"id":"x","metadata":{"k":1}}]`,
		`[{"id":"x","metadata":"k=v"}]`,
		`[{"id":"x","userAgent":7}]`,
	} {
		req := httptest.NewRequest(http.MethodGet, "/v1/audit-events", nil)
		res := httptest.NewRecorder()
		res.Header().Set("Content-Type", "application/json")
		res.WriteHeader(200)
		res.WriteString(body)
		if err := validate(t, router, req, res); err == nil {
			t.Errorf("%s: validation passed, want it to fail", body)
		}
	}
}
