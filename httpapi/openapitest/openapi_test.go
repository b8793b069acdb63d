package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// specPath is the API's OpenAPI document, a copy of the published
// shared/spec/openapi.json kept in this module so that its tests need
// nothing outside the repository.
const specPath = "testdata/openapi.json"

// TestSpecCopyIsCurrent compares the copy of the OpenAPI document with the
// published one, when shared/spec/openapi.json is checked out beside the
// repository; without it, there is nothing to compare with.
func TestSpecCopyIsCurrent(t *testing.T) {
	published := filepath.Join("..", "..", "..", "shared", "spec", "openapi.json")
	want, err := os.ReadFile(published)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("no published document at %s to compare %s with", published, specPath)
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(specPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the published %s: copy it again", specPath, published)
	}
}

// loadSpec loads and validates the OpenAPI document and returns a router
// over its operations.
func loadSpec(tb testing.TB) (*openapi3.T, routers.Router) {
	tb.Helper()
	path := specPath
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		tb.Fatalf("loading %s: %v", path, err)
	}
	// The published document has an empty info.title, which OpenAPI does
	// not allow; everything else in it must be valid.
	if doc.Info != nil && doc.Info.Title == "" {
		doc.Info.Title = "audit events"
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("%s is not a valid OpenAPI document: %v", path, err)
	}
	// The document's server is the relative "/v1"; requests in tests go to
	// example.com, the host httptest.NewRequest uses.
	doc.Servers = openapi3.Servers{{URL: "http://example.com/v1"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return doc, router
}

// validate checks a request and its recorded response against the document.
// It returns the response validator's error; a request that does not match
// the document fails the test.
func validate(tb testing.TB, router routers.Router, req *http.Request, res *httptest.ResponseRecorder) error {
	tb.Helper()
	req = req.Clone(context.Background()) // as the server sees it, with the absolute URL
	req.URL.Scheme, req.URL.Host = "http", req.Host
	route, params, err := router.FindRoute(req)
	if err != nil {
		tb.Fatalf("%s %s: no operation in the document: %v", req.Method, req.URL, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route}
	if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
		tb.Fatalf("%s %s: the request does not match the document: %v", req.Method, req.URL, err)
	}
	return openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 res.Code,
		Header:                 res.Header(),
		Body:                   io.NopCloser(bytes.NewReader(res.Body.Bytes())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true},
	})
}

// failingStore fails every query.
type failingStore struct{ auditevents.Store }

func (failingStore) Query(context.Context, auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		yield(auditevents.AuditEvent{}, errors.New("disk on fire"))
	}
}

func newStore(tb testing.TB) auditevents.Store {
	tb.Helper()
	store := memstore.New()
	tb.Cleanup(func() { store.Close() })
	t0 := time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC)
	var events []auditevents.AuditEvent
	for i, k := range auditevents.Kinds() {
		events = append(events, auditevents.AuditEvent{
			Timestamp:     t0.Add(time.Duration(i) * time.Second),
			User:          []string{"alice", "bob", "Zoë 東京"}[i%3],
			Action:        []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted}[i%3],
			ResourceKind:  k,
			ResourceName:  "name-" + k.String(),
			Configuration: []string{"", "prod", "prod:3"}[i%3],
			Description:   []string{"", "=cmd|' /C calc'!A0", "<b>bold</b>\n\"quoted\""}[i%3],
			Account:       []string{"", "acme"}[i%2],
		})
	}
	if err := auditevents.NewRecorder(store, nil).Record(context.Background(), events...); err != nil {
		tb.Fatal(err)
	}
	return store
}

// TestResponsesMatchSpec validates real responses of both endpoints, for
// every status the document gives them, against the document.
func TestResponsesMatchSpec(t *testing.T) {
	doc, router := loadSpec(t)
	store := newStore(t)
	authorize := func(r *http.Request) (string, error) {
		switch r.Header.Get("X-Bindplane-Api-Key") {
		case "acme":
			return "acme", nil
		case "viewer":
			return "", httpapi.ErrForbidden
		}
		return "", httpapi.ErrUnauthorized
	}
	open := newMux(t, store, nil)
	guarded := newMux(t, store, &httpapi.Options{Authorize: authorize})
	failing := newMux(t, failingStore{store}, nil)

	collectorDate := url.Values{"min-date": {time.Date(2025, 3, 14, 4, 27, 0, 0, time.FixedZone("", -5*3600)).Format("2006-01-02 15:04:05.000000-07")}}.Encode()
	tests := []struct {
		name    string
		handler http.Handler
		key     string
		target  string
		status  int
	}{
		{"all events", open, "", "/v1/audit-events", 200},
		{"no events", open, "", "/v1/audit-events?user=nobody", 200},
		{"spec filters", open, "", "/v1/audit-events?user=alice&configuration-name=prod&min-date=20250314000000&max-date=20250315000000", 200},
		{"collector date", open, "", "/v1/audit-events?" + collectorDate, 200},
		{"extension filters", open, "", "/v1/audit-events?resource-kind=Agent&action=Modified&resource-name=name-Agent", 200},
		{"page", open, "", "/v1/audit-events?limit=5", 200},
		{"scoped", guarded, "acme", "/v1/audit-events", 200},
		{"unknown parameter", open, "", "/v1/audit-events?usr=alice", 400},
		{"bad date", open, "", "/v1/audit-events?min-date=yesterday", 400},
		{"unauthorized", guarded, "", "/v1/audit-events", 401},
		{"forbidden", guarded, "viewer", "/v1/audit-events", 403},
		{"store fails", failing, "", "/v1/audit-events", 500},

		{"download", open, "", "/v1/audit-events/download", 200},
		{"download filtered", open, "", "/v1/audit-events/download?user=alice&" + collectorDate, 200},
		{"download unknown parameter", open, "", "/v1/audit-events/download?usr=alice", 400},
		{"download bad date", open, "", "/v1/audit-events/download?max-date=20251301000000", 400},
		{"download unauthorized", guarded, "", "/v1/audit-events/download", 401},
		{"download store fails", failing, "", "/v1/audit-events/download", 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			if tt.key != "" {
				req.Header.Set("X-Bindplane-Api-Key", tt.key)
			}
			res := httptest.NewRecorder()
			tt.handler.ServeHTTP(res, req)
			if got, want := res.Code, tt.status; got != want {
				t.Fatalf("status: got %d, want %d; body %s", got, want, res.Body)
			}
			if err := validate(t, router, req, res); err != nil {
				t.Errorf("the response does not match the document: %v", err)
			}
			// The document allows extra fields; the API sends none, and
			// every field the schema names.
			if res.Code == 200 && !strings.HasSuffix(req.URL.Path, "/download") {
				checkFields(t, doc, res.Body.Bytes())
			}
			if res.Code >= 400 {
				var body map[string]any
				if err := json.Unmarshal(res.Body.Bytes(), &body); err != nil || len(body) != 1 || body["errors"] == nil {
					t.Errorf("error body %q: want {\"errors\": [...]} alone (%v)", res.Body, err)
				}
			}
		})
	}
}

// checkFields checks that every event of a list response has exactly the
// properties of the document's model.AuditEvent.
func checkFields(tb testing.TB, doc *openapi3.T, body []byte) {
	tb.Helper()
	schema := doc.Components.Schemas["model.AuditEvent"]
	if schema == nil || schema.Value == nil {
		tb.Fatal("the document has no model.AuditEvent")
	}
	want := slices.Sorted(maps.Keys(schema.Value.Properties))
	var events []map[string]any
	if err := json.Unmarshal(body, &events); err != nil {
		tb.Fatal(err)
	}
	for i, e := range events {
		if got := slices.Sorted(maps.Keys(e)); !slices.Equal(got, want) {
			tb.Errorf("event %d has fields %v, want %v", i, got, want)
		}
	}
}

// TestValidatorRejects makes sure the validation above can fail: responses
// that break the document are caught.
func TestValidatorRejects(t *testing.T) {
	_, router := loadSpec(t)
	for _, tt := range []struct {
		name, target, contentType, body string
		status                          int
	}{
		{"object instead of array", "/v1/audit-events", "application/json", `{"auditEvents":[]}`, 200},
		{"unknown resource kind", "/v1/audit-events", "application/json", `[{"id":"x","resourceKind":"Robot"}]`, 200},
		{"text error", "/v1/audit-events", "text/plain", "bad request", 400},
		{"errors not strings", "/v1/audit-events", "application/json", `{"errors":[1]}`, 400},
		{"undocumented status", "/v1/audit-events", "application/json", `{"errors":["x"]}`, 418},
		{"download error as JSON type", "/v1/audit-events/download", "application/json", `{"errors":["x"]}`, 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			res := httptest.NewRecorder()
			res.Header().Set("Content-Type", tt.contentType)
			res.WriteHeader(tt.status)
			fmt.Fprint(res, tt.body)
			if err := validate(t, router, req, res); err == nil {
				t.Errorf("validation passed, want it to fail")
			}
		})
	}
}

func newMux(tb testing.TB, store auditevents.Store, opts *httpapi.Options) *http.ServeMux {
	tb.Helper()
	h, err := httpapi.New(store, opts)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	return mux
}
