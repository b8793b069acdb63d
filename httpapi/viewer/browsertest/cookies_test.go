package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/httpapi/viewer"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/chromedp/chromedp"
)

// A host whose users sign in with a session cookie mounts the page without
// KeyHeader, and serves it with the API under a prefix of its own
// (http.StripPrefix): the page finds the API there, sends the cookie, says "not signed in" with a link
// to the host's sign-in page until there is one, and then shows the
// account's events; a user who may not read them is told so. The rows
// below the first page come with the "Load more" button too.
func TestViewerWithCookies(t *testing.T) {
	exe := chromium(t)
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, nil)
	for i := range 250 {
		account := "acme"
		if i%5 == 0 {
			account = "globex"
		}
		err := rec.Record(context.Background(), auditevents.AuditEvent{
			Timestamp:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(-time.Duration(i) * 7 * time.Minute),
			Account:      account,
			User:         "alice@example.com",
			Action:       auditevents.ActionModified,
			ResourceKind: auditevents.KindConfiguration,
			ResourceName: "frontend",
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	api, err := httpapi.New(store, &httpapi.Options{
		Authorize: func(r *http.Request) (string, error) {
			c, err := r.Cookie("session")
			switch {
			case err == nil && c.Value == "acme-session":
				return "acme", nil
			case err == nil && c.Value == "guest-session":
				return "", httpapi.ErrForbidden
			}
			return "", httpapi.ErrUnauthorized
		},
		Envelope: true, // the page reads {"auditEvents": [...]} as well as a bare array
		MaxLimit: 70,   // and asks for pages no larger than the handler allows
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	v := viewer.Must(api, &viewer.Options{SignInURL: "/admin/login", Title: "Acme audit log"})
	v.Register(mux)
	// The host serves the API and the page under a prefix of its own.
	page := "/admin" + v.Path()
	signIn := func(session string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			http.SetCookie(w, &http.Cookie{Name: "session", Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, page, http.StatusFound)
		}
	}
	mux.HandleFunc("GET /login", signIn("acme-session"))
	mux.HandleFunc("GET /guest", signIn("guest-session"))
	root := http.NewServeMux()
	root.Handle("/admin/", http.StripPrefix("/admin", mux))
	srv := httptest.NewServer(root)
	defer srv.Close()

	p, consoleErrors := openBrowser(t, exe)
	p.do(chromedp.Navigate(srv.URL + page))
	if state := p.settled(); state != "error" || !strings.Contains(p.status(), "Not signed in") {
		t.Fatalf("without the cookie the page is %q saying %q, want not signed in", state, p.status())
	}
	if shown := eval[bool](p, `!document.getElementById("signin-link").hidden && document.getElementById("signin").hidden`); !shown {
		t.Error("without the cookie the page shows no link to the sign-in page, or asks for a key")
	}
	p.follow("#signin-link a")
	if state := p.settled(); state != "done" {
		t.Fatalf("after signing in the page is %q saying %q", state, p.status())
	}
	if got := eval[string](p, `document.title + " | " + document.querySelector("h1").textContent`); got != "Acme audit log | Acme audit log" {
		t.Errorf("title and heading %q", got)
	}
	// 200 of the 250 events are acme's, read in pages of 70 following the
	// cursor; the table shows the first page, then more at each click of
	// the button. It is clicked where it is, without scrolling: scrolling to
	// it would bring the end of the table near, which adds rows by itself.
	if got := len(p.rows()); got != 70 {
		t.Fatalf("the table shows %d rows before scrolling, want the first page of 70", got)
	}
	for range 5 {
		if eval[bool](p, `document.getElementById("load-more").hidden`) {
			break
		}
		p.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("load-more").click()`))
	}
	rows := p.rows()
	if len(rows) != 200 || p.count() != 200 {
		t.Fatalf("after Load more the table shows %d rows of %d read, want acme's 200", len(rows), p.count())
	}
	var want []string
	for e, err := range store.Query(context.Background(), auditevents.Query{}.InAccount("acme")) {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, e.ID)
	}
	if !slices.Equal(rows, want) {
		t.Error("the rows are not acme's events, newest first")
	}
	// A user the host knows but does not let read the trail.
	p.do(chromedp.Navigate(srv.URL + "/admin/guest"))
	if state := p.settled(); state != "error" || !strings.Contains(p.status(), "Not allowed") {
		t.Errorf("signed in without the right to read, the page is %q saying %q, want not allowed", state, p.status())
	}
	for _, m := range consoleErrors() {
		t.Errorf("console: %s", m)
	}
}
