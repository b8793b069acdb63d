package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

// A host's unit test runs its handler against memstore and asserts the audit
// event it recorded.
func TestCreateWidgetRecordsAnEvent(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	h := createWidget(auditevents.NewRecorder(store, nil))

	req := httptest.NewRequest(http.MethodPost, "/v1/widgets?name=gizmo", nil)
	req.Header.Set("X-User", "alice@example.com")
	// What httpapi.ActorMiddleware puts in the context of a request.
	req = req.WithContext(auditevents.ContextWithActor(req.Context(), auditevents.Actor{IPAddress: "192.0.2.7", RequestID: "req-1"}))
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, req)
	if got, want := rr.Code, http.StatusCreated; got != want {
		t.Fatalf("status %d, want %d", got, want)
	}

	events, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{User: "alice@example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(events), 1; got != want {
		t.Fatalf("%d events recorded, want %d", got, want)
	}
	if got, want := events[0].ResourceName, "gizmo"; got != want {
		t.Errorf("resource name %q, want %q", got, want)
	}
	if got, want := events[0].Action, auditevents.ActionCreated; got != want {
		t.Errorf("action %q, want %q", got, want)
	}
	if e := events[0]; e.IPAddress != "192.0.2.7" || e.RequestID != "req-1" {
		t.Errorf("actor %q %q, want the request's 192.0.2.7 req-1", e.IPAddress, e.RequestID)
	}
}

func TestCreateWidgetRecordsNothingOnBadInput(t *testing.T) {
	store := memstore.New()
	t.Cleanup(func() { store.Close() })
	rr := httptest.NewRecorder()
	createWidget(auditevents.NewRecorder(store, nil)).ServeHTTP(rr, httptest.NewRequest(http.MethodPost, "/v1/widgets", nil))
	if got, want := rr.Code, http.StatusBadRequest; got != want {
		t.Errorf("status %d, want %d", got, want)
	}
	if events, _ := auditevents.Collect(store.Query(context.Background(), auditevents.Query{})); len(events) != 0 {
		t.Errorf("%d events recorded for a rejected request", len(events))
	}
}

// The README's embedding snippet is this program's code, so it compiles and
// cannot rot.
func TestREADMESnippet(t *testing.T) {
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(src), "// README:begin\n")
	snippet, _, ok2 := strings.Cut(rest, "\t// README:end")
	if !ok || !ok2 {
		t.Fatal("main.go has no README:begin/end markers")
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimRight(snippet, "\n"), "\n") {
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	if want := strings.Join(lines, "\n"); !strings.Contains(string(readme), want) {
		t.Errorf("README.md does not hold the snippet of examples/embed/main.go between its README markers:\n%s", want)
	}
}
