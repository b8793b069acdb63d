package openapitest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"golang.org/x/mod/sumdb/note"
)

// loadLogSpec loads the document of the log's endpoints, kept beside the
// httpapi package.
func loadLogSpec(tb testing.TB) (*openapi3.T, routers.Router) {
	tb.Helper()
	return loadExtension(tb, "../openapi-log.json")
}

// loadExtension loads and validates the document of an extension of the
// API at path, and returns a router over its operations.
func loadExtension(tb testing.TB, path string) (*openapi3.T, routers.Router) {
	tb.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile(path)
	if err != nil {
		tb.Fatalf("loading %s: %v", path, err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		tb.Fatalf("%s is not a valid OpenAPI document: %v", path, err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://example.com/v1"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		tb.Fatal(err)
	}
	return doc, router
}

// The log's endpoints answer, in success and in error, as openapi-log.json
// documents them; each line of the entries stream matches log.Entry.
func TestLogResponsesMatchSpec(t *testing.T) {
	doc, router := loadLogSpec(t)
	skey, _, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	rec := auditevents.NewRecorder(store, nil)
	for range 40 {
		if err := rec.Record(context.Background(), auditevents.AuditEvent{User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent, Account: "acme"}); err != nil {
			t.Fatal(err)
		}
	}
	var id string
	for e, err := range store.Entries(context.Background(), "acme", 7) {
		if err != nil {
			t.Fatal(err)
		}
		id = e.Event.ID
		break
	}
	mux := newMux(t, store, &httpapi.Options{
		Authorize: func(*http.Request) (string, error) { return "acme", nil },
		Log:       &httpapi.LogOptions{Name: "example.com/audit", Signer: signer},
	})
	for _, tc := range []struct {
		target string
		status int
	}{
		{"/v1/audit-events/log/checkpoint", 200},
		{"/v1/audit-events/log/inclusion?id=" + id, 200},
		{"/v1/audit-events/log/inclusion?id=" + id + "&size=20", 200},
		{"/v1/audit-events/log/inclusion?id=" + id + "&size=41", 400},
		{"/v1/audit-events/log/inclusion?id=nope", 400},
		{"/v1/audit-events/log/consistency?from=10&to=40", 200},
		{"/v1/audit-events/log/consistency?from=10", 200},
		{"/v1/audit-events/log/consistency?from=50", 400},
		{"/v1/audit-events/log/hashes?index=0&index=5", 200},
		{"/v1/audit-events/log/hashes?index=100000", 400},
		{"/v1/audit-events/log/entries?from=41", 400},
	} {
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		res := httptest.NewRecorder()
		mux.ServeHTTP(res, req)
		if res.Code != tc.status {
			t.Errorf("GET %s: %d %s, want %d", tc.target, res.Code, res.Body, tc.status)
			continue
		}
		if err := validate(t, router, req, res); err != nil {
			t.Errorf("GET %s: the response does not match openapi-log.json: %v", tc.target, err)
		}
	}

	res := httptest.NewRecorder()
	mux.ServeHTTP(res, httptest.NewRequest(http.MethodGet, "/v1/audit-events/log/entries?from=3", nil))
	if res.Code != 200 || res.Header().Get("Content-Type") != "application/jsonl" {
		t.Fatalf("entries: %d %s", res.Code, res.Header().Get("Content-Type"))
	}
	schema := doc.Components.Schemas["log.Entry"].Value
	sc := bufio.NewScanner(bytes.NewReader(res.Body.Bytes()))
	lines := 0
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("entries line %d: %v", lines, err)
		}
		if err := schema.VisitJSON(v); err != nil {
			t.Errorf("entries line %d does not match log.Entry: %v", lines, err)
		}
		lines++
	}
	if lines != 37 {
		t.Errorf("entries from 3 sent %d lines, want 37", lines)
	}
}
