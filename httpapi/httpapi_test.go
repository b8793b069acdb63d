package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/storetest"
)

// TestParameters checks every filter on both endpoints: the list's JSON and
// the download's CSV hold the same events in the same order.
func TestParameters(t *testing.T) {
	store, all := newStore(t, fixture())
	// all is newest first: all[0] is fixture event 5, all[5] is event 0.
	ev := func(i int) string { return all[len(all)-1-i].ID }
	collector := "2006-01-02 15:04:05.000000-07"
	est := time.FixedZone("", -5*3600)
	h := mux(newHandler(t, store, nil))

	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"none", nil, ids(all)},
		{"empty value means no filter", url.Values{"user": {""}}, ids(all)},
		{"user", url.Values{"user": {"alice"}}, []string{ev(5), ev(2), ev(0)}},
		{"user unicode", url.Values{"user": {"Zoë 東京"}}, []string{ev(4)}},
		{"user matches exactly", url.Values{"user": {"Alice"}}, []string{}},
		{"configuration-name every version", url.Values{"configuration-name": {"prod"}}, []string{ev(4), ev(1), ev(0)}},
		{"configuration-name one version", url.Values{"configuration-name": {"prod:2"}}, []string{ev(4), ev(1)}},
		{"min-date compact", url.Values{"min-date": {t0.Add(3 * time.Second).Format("20060102150405")}}, []string{ev(5), ev(4), ev(3)}},
		{"max-date compact includes its second", url.Values{"max-date": {t0.Add(1 * time.Second).Format("20060102150405")}}, []string{ev(1), ev(0)}},
		{"min-date and max-date", url.Values{"min-date": {t0.Add(time.Second).Format("20060102150405")}, "max-date": {t0.Add(2 * time.Second).Format("20060102150405")}}, []string{ev(2), ev(1)}},
		{"min-date RFC 3339", url.Values{"min-date": {t0.Add(4 * time.Second).In(est).Format(time.RFC3339Nano)}}, []string{ev(5), ev(4)}},
		{"min-date collector format", url.Values{"min-date": {t0.Add(4*time.Second + time.Microsecond).In(est).Format(collector)}}, []string{ev(5)}},
		{"min-date collector format positive offset", url.Values{"min-date": {t0.Add(4 * time.Second).In(time.FixedZone("", 2*3600)).Format(collector)}}, []string{ev(5), ev(4)}},
		{"resource-kind", url.Values{"resource-kind": {"Agent"}}, []string{ev(2)}},
		{"resource-name", url.Values{"resource-name": {"prod"}}, []string{ev(4), ev(1), ev(0)}},
		{"action", url.Values{"action": {"Created"}}, []string{ev(3), ev(0)}},
		{"combined", url.Values{"user": {"bob"}, "configuration-name": {"prod"}, "action": {"Modified"}}, []string{ev(1)}},
		{"cursor", url.Values{"cursor": {all[1].Cursor().String()}}, ids(all[2:])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// url.Values.Encode is how the collector builds its query.
			target := "/v1/audit-events?" + tt.query.Encode()
			res := do(t, h, http.MethodGet, target)
			if got, want := res.Code, http.StatusOK; got != want {
				t.Fatalf("list status: got %d, want %d; body %s", got, want, res.Body)
			}
			if got, want := strings.Join(ids(decodeEvents(t, res.Body.Bytes())), " "), strings.Join(tt.want, " "); got != want {
				t.Errorf("list IDs:\ngot  %s\nwant %s", got, want)
			}

			res = do(t, h, http.MethodGet, "/v1/audit-events/download?"+tt.query.Encode())
			if got, want := res.Code, http.StatusOK; got != want {
				t.Fatalf("download status: got %d, want %d; body %s", got, want, res.Body)
			}
			var got []string
			for _, row := range readCSV(t, res.Body.Bytes()) {
				got = append(got, row[0])
			}
			if got, want := strings.Join(got, " "), strings.Join(tt.want, " "); got != want {
				t.Errorf("download IDs:\ngot  %s\nwant %s", got, want)
			}
		})
	}
}

// TestListBody checks the JSON encoding of events as the spec's schema
// names the fields, and that an empty result is [] and never null.
func TestListBody(t *testing.T) {
	store, all := newStore(t, fixture())
	h := newHandler(t, store, nil)

	res := do(t, h.List(), http.MethodGet, "/v1/audit-events?user=bob&action=Modified")
	if got, want := res.Header().Get("Content-Type"), "application/json"; got != want {
		t.Errorf("Content-Type: got %q, want %q", got, want)
	}
	var got []map[string]string
	if err := json.Unmarshal(res.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	bob := all[4]
	want := []map[string]string{{
		"id": bob.ID, "timestamp": "2025-03-14T09:26:54.589793Z", "account": "acme", "user": "bob",
		"action": "Modified", "resourceKind": "Configuration", "resourceName": "prod",
		"configuration": "prod:2", "description": "",
	}}
	if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
		t.Errorf("body:\ngot  %s\nwant %s", g, w)
	}

	// HTML in a field is escaped, so a browser never runs it.
	res = do(t, h.List(), http.MethodGet, "/v1/audit-events?resource-name=%2Bbob")
	if body := res.Body.String(); strings.Contains(body, "<script>") || !strings.Contains(body, `\u003cscript\u003e`) {
		t.Errorf("body %s: want <script> escaped as \\u003cscript\\u003e", body)
	}

	for _, tt := range []struct {
		name     string
		envelope bool
		want     string
	}{
		{"bare", false, "[]"},
		{"envelope", true, `{"auditEvents":[]}`},
	} {
		t.Run("empty "+tt.name, func(t *testing.T) {
			h := newHandler(t, store, &httpapi.Options{Envelope: tt.envelope})
			res := do(t, h.List(), http.MethodGet, "/v1/audit-events?user=nobody")
			if got, want := res.Code, http.StatusOK; got != want {
				t.Fatalf("status: got %d, want %d", got, want)
			}
			if got, want := res.Body.String(), tt.want; got != want {
				t.Errorf("body: got %q, want %q", got, want)
			}
		})
	}
}

// collectorEvent is the shape in which Bindplane's audit logs receiver
// decodes an event.
type collectorEvent struct {
	ID            string     `json:"id"`
	Timestamp     *time.Time `json:"timestamp"`
	Account       string     `json:"account"`
	User          string     `json:"user"`
	Action        string     `json:"action"`
	ResourceKind  string     `json:"resourceKind"`
	ResourceName  string     `json:"resourceName"`
	Configuration string     `json:"configuration"`
	Description   string     `json:"description"`
}

// TestCollectorPolling polls as Bindplane's collector receiver does: the API
// key in X-Bindplane-Api-Key, min-date set to the newest timestamp seen plus
// a microsecond in the collector's layout, and the body decoded as the
// envelope object. Each poll gets exactly the events it has not seen, the
// events with actor fields (extension fields the receiver does not know)
// among them.
func TestCollectorPolling(t *testing.T) {
	store, all := newStore(t, actorFixture())
	h := newHandler(t, store, &httpapi.Options{
		Envelope: true,
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("X-Bindplane-Api-Key") != "secret" {
				return "", httpapi.ErrUnauthorized
			}
			return "", nil // a single-account install
		},
	})
	srv := httptest.NewServer(mux(h))
	t.Cleanup(srv.Close)

	poll := func(tb testing.TB, since time.Time) []collectorEvent {
		tb.Helper()
		values := url.Values{}
		if !since.IsZero() {
			values.Set("min-date", since.Add(time.Microsecond).Format("2006-01-02 15:04:05.000000-07"))
		}
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/v1/audit-events?"+values.Encode(), nil)
		if err != nil {
			tb.Fatal(err)
		}
		req.Header.Set("X-Bindplane-Api-Key", "secret")
		res, err := srv.Client().Do(req)
		if err != nil {
			tb.Fatal(err)
		}
		defer res.Body.Close()
		if got, want := res.StatusCode, http.StatusOK; got != want {
			tb.Fatalf("status: got %d, want %d", got, want)
		}
		var body struct {
			AuditEvents []collectorEvent `json:"auditEvents"`
		}
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			tb.Fatal(err)
		}
		return body.AuditEvents
	}

	// The unscoped events: those with no account.
	var want []string
	for _, e := range all {
		if e.Account == "" {
			want = append(want, e.ID)
		}
	}
	first := poll(t, time.Time{})
	var got []string
	for _, e := range first {
		got = append(got, e.ID)
	}
	if g, w := strings.Join(got, " "), strings.Join(want, " "); g != w {
		t.Fatalf("first poll:\ngot  %s\nwant %s", g, w)
	}
	newest := *first[0].Timestamp

	if got := poll(t, newest); len(got) != 0 {
		t.Errorf("second poll with nothing new: got %d events, want 0", len(got))
	}
	// An event one microsecond after the newest is not lost.
	added := auditevents.AuditEvent{Timestamp: newest.Add(time.Microsecond), User: "carol", Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAPIKey}
	if err := auditevents.NewRecorder(store, nil).Record(t.Context(), added); err != nil {
		t.Fatal(err)
	}
	third := poll(t, newest)
	if len(third) != 1 || third[0].User != "carol" || !third[0].Timestamp.Equal(added.Timestamp) {
		t.Errorf("third poll: got %+v, want the added event alone", third)
	}
}

// TestDownload checks the download's headers and its CSV, formula-looking
// cells neutralised.
func TestDownload(t *testing.T) {
	store, all := newStore(t, fixture())
	now := time.Date(2025, 6, 1, 23, 59, 58, 0, time.FixedZone("", 2*3600))
	h := newHandler(t, store, &httpapi.Options{Now: func() time.Time { return now }})

	res := do(t, h.Download(), http.MethodGet, "/v1/audit-events/download")
	if got, want := res.Code, http.StatusOK; got != want {
		t.Fatalf("status: got %d, want %d", got, want)
	}
	for name, want := range map[string]string{
		"Content-Type":           "application/octet-stream",
		"Content-Disposition":    `attachment; filename="audit-events-20250601T215958Z.csv"`,
		"X-Content-Type-Options": "nosniff",
		"Cache-Control":          "no-store",
	} {
		if got := res.Header().Get(name); got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	rows := readCSV(t, res.Body.Bytes())
	if got, want := len(rows), len(all); got != want {
		t.Fatalf("rows: got %d, want %d", got, want)
	}
	// all[0] is the newest: the user with "+bob" and a description with
	// HTML, a quote, a comma and a line break; all[1] has a formula.
	if got, want := rows[0][6], "'+bob"; got != want {
		t.Errorf("resourceName: got %q, want %q", got, want)
	}
	if got, want := rows[0][8], all[0].Description; got != want {
		t.Errorf("description: got %q, want %q", got, want)
	}
	if got, want := rows[1][8], `'=HYPERLINK("http://evil")`; got != want {
		t.Errorf("description: got %q, want %q", got, want)
	}
	if got, want := rows[1][3], "Zoë 東京"; got != want {
		t.Errorf("user: got %q, want %q", got, want)
	}

	t.Run("formulas allowed", func(t *testing.T) {
		h := newHandler(t, store, &httpapi.Options{CSV: &auditevents.CSVOptions{AllowFormulas: true}})
		rows := readCSV(t, do(t, h.Download(), http.MethodGet, "/x").Body.Bytes())
		if got, want := rows[1][8], `=HYPERLINK("http://evil")`; got != want {
			t.Errorf("description: got %q, want %q", got, want)
		}
	})
	t.Run("empty", func(t *testing.T) {
		res := do(t, h.Download(), http.MethodGet, "/x?user=nobody")
		if got, want := res.Body.String(), strings.Join(auditevents.CSVColumns(), ",")+"\r\n"; got != want {
			t.Errorf("body: got %q, want %q", got, want)
		}
	})
}

// TestBadRequests checks that every malformed request gets 400 with one
// message naming what was wrong, with the error content type each endpoint's
// spec gives, before the store is asked anything.
func TestBadRequests(t *testing.T) {
	store, _ := newStore(t, fixture())
	wrapped := newWrapStore(store)
	h := mux(newHandler(t, wrapped, &httpapi.Options{MaxQueryBytes: 200, MaxParams: 5, MaxLimit: 50}))

	tests := []struct {
		name  string
		query string
		want  string // a part of the message
	}{
		{"unknown parameter", "usr=alice", `invalid parameter "usr": unknown; accepted parameters are configuration-name, user, min-date, max-date, resource-kind, resource-name, action, limit, cursor`},
		{"account cannot be given", "account=acme", `invalid parameter "account": unknown`},
		{"repeated parameter", "user=alice&user=bob", `invalid user "alice,bob": given more than once`},
		{"bad min-date", "min-date=yesterday", `invalid min-date "yesterday": expected YYYYMMDDHHMMSS`},
		{"impossible max-date", "max-date=20250230120000", `invalid max-date "20250230120000"`},
		{"min-date after max-date", "min-date=20250102000000&max-date=20250101000000", "min-date must not be later than max-date"},
		{"unknown resource-kind", "resource-kind=Robot", `invalid resource-kind "Robot": expected one of Configuration, Agent`},
		{"limit zero", "limit=0", `invalid limit "0": expected a whole number of at least 1`},
		{"limit not a number", "limit=ten", `invalid limit "ten"`},
		{"limit above the maximum", "limit=51", `invalid limit "51": expected a whole number from 1 to 50`},
		{"bad cursor", "cursor=abc", `invalid cursor "abc": expected a cursor returned by an earlier page`},
		{"malformed escape", "user=%zz", `malformed query string: invalid URL escape "%zz"`},
		{"semicolon", "user=a;b", "malformed query string: invalid semicolon separator in query"},
		{"query too long", "user=" + strings.Repeat("a", 196), "query string is 201 bytes long; at most 200 bytes are accepted"},
		{"too many parameters", "a&b&c&d&e&f", "query string has 6 parameters; at most 5 are accepted"},
		{"unicode value", "user=" + url.QueryEscape("東京") + "&min-date=" + url.QueryEscape("２０２５"), `invalid min-date "２０２５"`},
		{"ip-address not an address", "ip-address=example.com", `invalid ip-address "example.com": expected an IP address such as 192.0.2.7`},
		{"ip-address with host bits", "ip-address=192.0.2.7/24", `invalid ip-address "192.0.2.7/24": has bits set after the prefix length; expected the network's first address, 192.0.2.0/24`},
		{"ip-address with a zone", "ip-address=" + url.QueryEscape("fe80::1%eth0"), `invalid ip-address "fe80::1%eth0"`},
		{"request-id with NUL", "request-id=a%00b", `invalid request-id "a\x00b"`},
		{"request-id repeated", "request-id=a&request-id=b", `invalid request-id "a,b": given more than once`},
		{"long value cut in the message", "resource-kind=" + strings.Repeat("x", 150), `invalid resource-kind "` + strings.Repeat("x", 64) + `"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, ep := range []struct{ path, contentType string }{
				{"/v1/audit-events", "application/json"},
				{"/v1/audit-events/download", "application/octet-stream"},
			} {
				res := do(t, h, http.MethodGet, ep.path+"?"+tt.query)
				if got, want := res.Code, http.StatusBadRequest; got != want {
					t.Fatalf("%s: status: got %d, want %d; body %s", ep.path, got, want, res.Body)
				}
				if got, want := res.Header().Get("Content-Type"), ep.contentType; got != want {
					t.Errorf("%s: Content-Type: got %q, want %q", ep.path, got, want)
				}
				if got := res.Header().Get("Content-Disposition"); got != "" {
					t.Errorf("%s: Content-Disposition: got %q, want none on an error", ep.path, got)
				}
				if msg := decodeErrors(t, res.Body.Bytes()); !strings.Contains(msg, tt.want) {
					t.Errorf("%s: message:\ngot  %s\nwant it to contain %s", ep.path, msg, tt.want)
				}
			}
		})
	}
	if got := wrapped.yielded.Load(); got != 0 {
		t.Errorf("the store yielded %d events for bad requests, want 0", got)
	}
}

// TestHostileQueries sends query strings far beyond the limits and checks
// that they are refused with 400, not parsed.
func TestHostileQueries(t *testing.T) {
	store, all := newStore(t, fixture())
	h := mux(newHandler(t, store, nil))
	tests := []struct {
		name, query string
		want        string // the 400 message, or "" for a 200
		events      int    // with a 200
	}{
		{"1 MiB value", "user=" + strings.Repeat("A", 1<<20), "query string is 1048581 bytes long; at most 4096 bytes are accepted", 0},
		{"2,000 parameters", strings.Repeat("a&", 2000)[:4000], "query string has 2000 parameters; at most 32 are accepted", 0},
		{"4,000 empty parameters", strings.Repeat("&", 4000), "", len(all)}, // url.ParseQuery skips empty parts
		{"control bytes", "user=%01%1b", "", 0},
		{"NUL", "user=%00%01%1b", `invalid user "\x00\x01\x1b": must not contain a NUL byte`, 0},
		{"invalid UTF-8", "user=%ff%fe", `invalid user "\xff\xfe": must be valid UTF-8`, 0},
		{"NUL in a configuration", "configuration-name=frontend%00", `invalid configuration-name "frontend\x00": must not contain a NUL byte`, 0},
		{"right-to-left override", "user=" + url.QueryEscape("\u202egnp.exe"), "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, h, http.MethodGet, "/v1/audit-events?"+tt.query)
			if tt.want == "" {
				if got, want := res.Code, http.StatusOK; got != want {
					t.Fatalf("status: got %d, want %d; body %s", got, want, res.Body)
				}
				if got, want := len(decodeEvents(t, res.Body.Bytes())), tt.events; got != want {
					t.Errorf("events: got %d, want %d", got, want)
				}
				return
			}
			if got, want := res.Code, http.StatusBadRequest; got != want {
				t.Fatalf("status: got %d, want %d", got, want)
			}
			if got := decodeErrors(t, res.Body.Bytes()); got != tt.want {
				t.Errorf("message: got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestMethods checks that HEAD answers as GET without a body and that every
// other method gets 405 with Allow.
func TestMethods(t *testing.T) {
	store, _ := newStore(t, fixture())
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	h := mux(newHandler(t, store, &httpapi.Options{Now: func() time.Time { return now }}))
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download"} {
		for _, query := range []string{"", "?limit=2", "?user=nobody", "?limit=nope"} {
			t.Run("HEAD "+path+query, func(t *testing.T) {
				get := do(t, h, http.MethodGet, path+query)
				head := do(t, h, http.MethodHead, path+query)
				if got, want := head.Code, get.Code; got != want {
					t.Errorf("status: got %d, want %d as GET", got, want)
				}
				if head.Body.Len() != 0 {
					t.Errorf("body: got %q, want none", head.Body)
				}
				for _, name := range []string{"Content-Type", "Content-Disposition", "Link", "X-Content-Type-Options"} {
					if got, want := head.Header().Get(name), get.Header().Get(name); got != want {
						t.Errorf("%s: got %q, want %q as GET", name, got, want)
					}
				}
			})
		}
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, "PROPFIND"} {
			t.Run(method+" "+path, func(t *testing.T) {
				res := do(t, h, method, path)
				if got, want := res.Code, http.StatusMethodNotAllowed; got != want {
					t.Fatalf("status: got %d, want %d", got, want)
				}
				if got, want := res.Header().Get("Allow"), "GET, HEAD"; got != want {
					t.Errorf("Allow: got %q, want %q", got, want)
				}
				if got, want := decodeErrors(t, res.Body.Bytes()), "method not allowed; use GET or HEAD"; got != want {
					t.Errorf("message: got %q, want %q", got, want)
				}
			})
		}
	}
}

var errDatabaseDown = errors.New("pq: connection to 10.0.0.7 refused")

// TestAuthorize checks the hook's outcomes: 401, 403, 500 for other errors,
// and a scope that confines every query.
func TestAuthorize(t *testing.T) {
	store, all := newStore(t, fixture())
	authorize := func(r *http.Request) (string, error) {
		switch r.Header.Get("X-Bindplane-Api-Key") {
		case "":
			return "", fmt.Errorf("no API key: %w", httpapi.ErrUnauthorized)
		case "acme-key":
			return "acme", nil
		case "no-account-key":
			return "", nil
		case "viewer-key":
			return "", fmt.Errorf("role viewer: %w", httpapi.ErrForbidden)
		case "broken":
			return "", errDatabaseDown
		}
		return "", httpapi.ErrUnauthorized
	}
	logger, logs := newLogger(t)
	h := mux(newHandler(t, store, &httpapi.Options{Authorize: authorize, Challenge: `ApiKey header="X-Bindplane-Api-Key"`, Logger: logger}))

	accountIDs := func(account string) []string {
		var out []string
		for _, e := range all {
			if e.Account == account {
				out = append(out, e.ID)
			}
		}
		return out
	}
	tests := []struct {
		name    string
		key     string
		query   string
		status  int
		message string
		want    []string
	}{
		{"no key", "", "", http.StatusUnauthorized, "missing or invalid credentials", nil},
		{"wrong key", "guess", "", http.StatusUnauthorized, "missing or invalid credentials", nil},
		{"forbidden", "viewer-key", "", http.StatusForbidden, "not allowed to read audit events", nil},
		{"hook fails", "broken", "", http.StatusInternalServerError, "internal server error", nil},
		{"checked before parameters", "", "bogus=1", http.StatusUnauthorized, "missing or invalid credentials", nil},
		{"scoped to account", "acme-key", "", http.StatusOK, "", accountIDs("acme")},
		{"scoped and filtered", "acme-key", "user=bob&configuration-name=prod", http.StatusOK, "", accountIDs("acme")[1:]},
		{"scope cannot be widened by a filter", "acme-key", "user=alice", http.StatusOK, "", nil},
		{"scope cannot be widened by a parameter", "acme-key", "account=other", http.StatusBadRequest, `invalid parameter "account": unknown`, nil},
		{"empty account means events without one", "no-account-key", "", http.StatusOK, "", accountIDs("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download"} {
				req := httptest.NewRequest(http.MethodGet, path+"?"+tt.query, nil)
				if tt.key != "" {
					req.Header.Set("X-Bindplane-Api-Key", tt.key)
				}
				res := httptest.NewRecorder()
				h.ServeHTTP(res, req)
				if got, want := res.Code, tt.status; got != want {
					t.Fatalf("%s: status: got %d, want %d; body %s", path, got, want, res.Body)
				}
				if tt.status == http.StatusUnauthorized {
					if got, want := res.Header().Get("WWW-Authenticate"), `ApiKey header="X-Bindplane-Api-Key"`; got != want {
						t.Errorf("%s: WWW-Authenticate: got %q, want %q", path, got, want)
					}
				}
				if tt.status != http.StatusOK {
					got := decodeErrors(t, res.Body.Bytes())
					if !strings.Contains(got, tt.message) {
						t.Errorf("%s: message: got %q, want %q", path, got, tt.message)
					}
					if strings.Contains(res.Body.String(), errDatabaseDown.Error()) || strings.Contains(res.Body.String(), "role viewer") || strings.Contains(res.Body.String(), "no API key") {
						t.Errorf("%s: the body repeats the hook's error: %s", path, res.Body)
					}
					continue
				}
				var got []string
				if strings.HasSuffix(path, "download") {
					for _, row := range readCSV(t, res.Body.Bytes()) {
						got = append(got, row[0])
					}
				} else {
					got = ids(decodeEvents(t, res.Body.Bytes()))
				}
				if g, w := strings.Join(got, " "), strings.Join(tt.want, " "); g != w {
					t.Errorf("%s: IDs:\ngot  %s\nwant %s", path, g, w)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), errDatabaseDown.Error()) {
		t.Errorf("log %q: want the hook's error", logs)
	}
}

// TestPagination follows Link headers through every page and checks that
// the pages together are the whole result, in order, with no page past the
// last, and that each Link repeats the request's filters.
func TestPagination(t *testing.T) {
	events := generated(23)
	// One user acts in every fourth event: the filtered listing spans
	// several pages, so its Links are checked too.
	user := events[0].User
	for i := 0; i < len(events); i += 4 {
		events[i].User = user
	}
	store, all := newStore(t, events)
	h := mux(newHandler(t, store, nil))
	link := regexp.MustCompile(`^<(/v1/audit-events(?:/download)?\?[^>]+)>; rel="next"$`)

	for _, tt := range []struct {
		name   string
		path   string
		filter string
		limit  int
	}{
		{"list by 5", "/v1/audit-events", "", 5},
		{"list by 1", "/v1/audit-events", "", 1},
		{"list by 23, one page exactly", "/v1/audit-events", "", 23},
		{"list by 50", "/v1/audit-events", "", 50},
		{"list filtered by 2", "/v1/audit-events", "user=" + url.QueryEscape(user) + "&", 2},
		{"download by 4", "/v1/audit-events/download", "", 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var want []string
			for _, e := range all {
				if tt.filter == "" || e.User == user {
					want = append(want, e.ID)
				}
			}
			var got []string
			pages := 0
			next := fmt.Sprintf("%s?%slimit=%d", tt.path, tt.filter, tt.limit)
			for next != "" {
				pages++
				if pages > len(all)+1 {
					t.Fatalf("more pages than events")
				}
				res := do(t, h, http.MethodGet, next)
				if got, want := res.Code, http.StatusOK; got != want {
					t.Fatalf("%s: status: got %d, want %d; body %s", next, got, want, res.Body)
				}
				var page []string
				if strings.Contains(tt.path, "download") {
					for _, row := range readCSV(t, res.Body.Bytes()) {
						page = append(page, row[0])
					}
				} else {
					page = ids(decodeEvents(t, res.Body.Bytes()))
				}
				got = append(got, page...)
				next = ""
				if l := res.Header().Get("Link"); l != "" {
					m := link.FindStringSubmatch(l)
					if m == nil {
						t.Fatalf("Link %q: want <path?query>; rel=\"next\"", l)
					}
					if got, want := len(page), tt.limit; got != want {
						t.Errorf("page %d with a next page: got %d events, want %d", pages, got, want)
					}
					u, err := url.Parse(m[1])
					if err != nil {
						t.Fatal(err)
					}
					if q := u.Query(); q.Get("limit") != fmt.Sprint(tt.limit) || (tt.filter != "" && q.Get("user") != user) {
						t.Errorf("Link %q: want the request's limit and filters", l)
					}
					next = m[1]
				}
			}
			if g, w := strings.Join(got, " "), strings.Join(want, " "); g != w {
				t.Errorf("pages:\ngot  %s\nwant %s", g, w)
			}
			if got, want := pages, max(1, (len(want)+tt.limit-1)/tt.limit); got != want {
				t.Errorf("pages: got %d, want %d", got, want)
			}
		})
	}

	t.Run("pages end at MaxPageBytes", func(t *testing.T) {
		events := generated(20)
		for i := range events {
			events[i].Description = strings.Repeat("\x01", 10000) // 60,000 bytes of JSON each
		}
		store, all := newStore(t, events)
		const maxPage = 150000
		h := mux(newHandler(t, store, &httpapi.Options{MaxPageBytes: maxPage}))
		var got []string
		pages := 0
		for next := "/v1/audit-events?limit=1000"; next != ""; pages++ {
			res := do(t, h, http.MethodGet, next)
			if res.Code != http.StatusOK {
				t.Fatalf("%s: status %d", next, res.Code)
			}
			if n := res.Body.Len(); n > maxPage+70000 {
				t.Errorf("page of %d bytes, over MaxPageBytes by more than one event", n)
			}
			got = append(got, ids(decodeEvents(t, res.Body.Bytes()))...)
			next = ""
			if m := link.FindStringSubmatch(res.Header().Get("Link")); m != nil {
				next = m[1]
			}
		}
		if g, w := strings.Join(got, " "), strings.Join(ids(all), " "); g != w {
			t.Errorf("pages:\ngot  %s\nwant %s", g, w)
		}
		if pages < 5 {
			t.Errorf("%d pages of 20 events of 60 KB each, want pages cut at about 150 KB", pages)
		}
	})

	t.Run("small events end a page at a small MaxPageBytes", func(t *testing.T) {
		// Events far smaller than the encoder's buffer: the bound counts
		// what is buffered, not only what has reached the page.
		store, all := newStore(t, generated(200))
		const maxPage = 2000
		h := mux(newHandler(t, store, &httpapi.Options{MaxPageBytes: maxPage}))
		res := do(t, h, http.MethodGet, "/v1/audit-events?limit=100")
		page := decodeEvents(t, res.Body.Bytes())
		if len(page) == 0 || len(page) == 100 || res.Header().Get("Link") == "" {
			t.Fatalf("a page of %d bytes holds %d events with Link %q; want it cut near %d bytes, with a Link", res.Body.Len(), len(page), res.Header().Get("Link"), maxPage)
		}
		if one := res.Body.Len() / len(page); res.Body.Len() > maxPage+2*one {
			t.Errorf("page of %d bytes, over MaxPageBytes %d by more than one event of ~%d bytes", res.Body.Len(), maxPage, one)
		}
		if g, w := ids(page), ids(all[:len(page)]); strings.Join(g, " ") != strings.Join(w, " ") {
			t.Errorf("the page is not the first events of the result")
		}
	})

	t.Run("events appended between pages", func(t *testing.T) {
		store, all := newStore(t, generated(10))
		h := mux(newHandler(t, store, nil))
		res := do(t, h, http.MethodGet, "/v1/audit-events?limit=4")
		first := ids(decodeEvents(t, res.Body.Bytes()))
		// A newer event, which belongs before the first page, and one as
		// old as all[5], in the middle of the second page.
		newer := auditevents.AuditEvent{Timestamp: all[0].Timestamp.Add(time.Second), User: "newer", Action: "Created", ResourceKind: auditevents.KindUser}
		middle := auditevents.AuditEvent{Timestamp: all[5].Timestamp, User: "middle", Action: "Created", ResourceKind: auditevents.KindUser}
		if err := auditevents.NewRecorder(store, nil).Record(t.Context(), newer, middle); err != nil {
			t.Fatal(err)
		}
		next := link.FindStringSubmatch(res.Header().Get("Link"))[1]
		second := decodeEvents(t, do(t, h, http.MethodGet, next).Body.Bytes())
		var users []string
		for _, e := range second {
			users = append(users, e.User)
		}
		if got := strings.Join(users, " "); !strings.Contains(got, "middle") || strings.Contains(got, "newer") || len(second) != 4 {
			t.Errorf("second page users %q: want 4 events, the middle one among them and not the newer one", got)
		}
		for _, e := range second {
			if slices.Contains(first, e.ID) {
				t.Errorf("event %s repeated from the first page", e.ID)
			}
		}
		if got, want := second[0].ID, all[4].ID; got != want {
			t.Errorf("second page starts with %s, want %s, right after the first page", got, want)
		}
	})
}

// TestStoreFailure checks that a store error before any byte of the body
// gets a 500 with a generic message, the real error going to the log.
func TestStoreFailure(t *testing.T) {
	store, _ := newStore(t, generated(10))
	for _, tt := range []struct {
		name      string
		failAfter int
		query     string
	}{
		{"at once", 0, ""},
		{"after a few events", 5, ""},
		{"paged", 3, "?limit=8"},
	} {
		for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				wrapped := newWrapStore(store)
				wrapped.failAfter, wrapped.err = tt.failAfter, errDatabaseDown
				logger, logs := newLogger(t)
				h := mux(newHandler(t, wrapped, &httpapi.Options{Logger: logger}))
				res := do(t, h, http.MethodGet, path+tt.query)
				if got, want := res.Code, http.StatusInternalServerError; got != want {
					t.Fatalf("status: got %d, want %d", got, want)
				}
				if got, want := decodeErrors(t, res.Body.Bytes()), "internal server error"; got != want {
					t.Errorf("message: got %q, want %q", got, want)
				}
				if got := res.Header().Get("Content-Disposition"); got != "" {
					t.Errorf("Content-Disposition: got %q, want none", got)
				}
				if !strings.Contains(logs.String(), errDatabaseDown.Error()) {
					t.Errorf("log %q: want the store's error", logs)
				}
			})
		}
	}

	t.Run("closed store", func(t *testing.T) {
		store, _ := newStore(t, generated(1))
		store.Close()
		logger, logs := newLogger(t)
		h := mux(newHandler(t, store, &httpapi.Options{Logger: logger}))
		for _, method := range []string{http.MethodGet, http.MethodHead} {
			if got, want := do(t, h, method, "/v1/audit-events").Code, http.StatusInternalServerError; got != want {
				t.Errorf("%s: status: got %d, want %d", method, got, want)
			}
		}
		if !strings.Contains(logs.String(), auditevents.ErrClosed.Error()) {
			t.Errorf("log %q: want %v", logs, auditevents.ErrClosed)
		}
	})
}

// TestStoreFailureMidStream checks that a store error after the first bytes
// have left aborts the response: the client sees a broken transfer, never a
// complete-looking body, and no count trailer. It holds too behind a
// middleware that recovers the handler's panic.
func TestStoreFailureMidStream(t *testing.T) {
	store, _ := newStore(t, generated(2000)) // far more than one flush
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download", "/v1/audit-events/download (recovered)", "/v1/audit-events (recovered)"} {
		t.Run(path, func(t *testing.T) {
			path, recovered := strings.CutSuffix(path, " (recovered)")
			wrapped := newWrapStore(store)
			wrapped.failAfter, wrapped.err = 1500, errDatabaseDown
			logger, logs := newLogger(t)
			var h http.Handler = mux(newHandler(t, wrapped, &httpapi.Options{Logger: logger}))
			if recovered {
				h = recoverAll(h)
			}
			srv := httptest.NewUnstartedServer(h)
			srv.Config.ErrorLog = discardLog() // recoverAll's WriteHeader on the closed connection
			srv.Start()
			t.Cleanup(srv.Close)

			res, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if got, want := res.StatusCode, http.StatusOK; got != want {
				t.Fatalf("status: got %d, want %d (sent before the failure)", got, want)
			}
			body, err := io.ReadAll(res.Body)
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("reading the body: got error %v after %d bytes, want %v", err, len(body), io.ErrUnexpectedEOF)
			}
			if len(body) == 0 {
				t.Errorf("body: got nothing, want the events before the failure")
			}
			if got := res.Trailer.Get(httpapi.CountTrailer); got != "" {
				t.Errorf("%s trailer %q after a failed response", httpapi.CountTrailer, got)
			}
			<-wrapped.done
			if !strings.Contains(logs.String(), errDatabaseDown.Error()) || !strings.Contains(logs.String(), "responseStarted=true") {
				t.Errorf("log %q: want the store's error, response started", logs)
			}
		})
	}
}

// TestStreaming checks that the first bytes reach the client before the
// store has yielded the last event: the store pauses after 1,000 events
// until the client has read the start of the body.
func TestStreaming(t *testing.T) {
	store, _ := newStore(t, generated(1200))
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download"} {
		t.Run(path, func(t *testing.T) {
			wrapped := newWrapStore(store)
			wrapped.pauseAfter, wrapped.resume = 1000, make(chan struct{})
			srv := httptest.NewServer(mux(newHandler(t, wrapped, nil)))
			t.Cleanup(srv.Close)

			res, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			// Were the body held back until the last event, this read would
			// never return, and the test would fail by its timeout.
			start := make([]byte, 100)
			if _, err := io.ReadFull(res.Body, start); err != nil {
				t.Fatal(err)
			}
			if got := wrapped.yielded.Load(); got > 1000 {
				t.Fatalf("events yielded: got %d, want at most 1000 while the store pauses", got)
			}
			close(wrapped.resume)
			rest, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			body := append(start, rest...)
			n := 0
			if strings.Contains(path, "download") {
				n = len(readCSV(t, body))
			} else {
				n = len(decodeEvents(t, body))
			}
			if got, want := n, 1200; got != want {
				t.Errorf("events: got %d, want %d", got, want)
			}
		})
	}
}

// TestClientDisconnect checks that a client that goes away mid-response
// stops the store's query: the store yields far fewer events than match.
func TestClientDisconnect(t *testing.T) {
	const total = 200_000 // about 60 MB of JSON, 35 MB of CSV: more than socket buffers hold
	store, _ := newStore(t, generated(total))
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download"} {
		t.Run(path, func(t *testing.T) {
			wrapped := newWrapStore(store)
			logger, logs := newLogger(t)
			srv := httptest.NewServer(mux(newHandler(t, wrapped, &httpapi.Options{Logger: logger})))
			t.Cleanup(srv.Close)

			ctx, cancel := context.WithCancel(t.Context())
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(res.Body, make([]byte, 10)); err != nil {
				t.Fatal(err)
			}
			cancel() // closes the connection
			res.Body.Close()

			<-wrapped.done // the store's iteration has ended
			if got := wrapped.yielded.Load(); got >= total {
				t.Errorf("events yielded: got %d, want fewer than %d", got, total)
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("log %q: a client going away is not an error", logs)
			}
		})
	}
}

// TestContextCancelledMidStream checks, without a network, that a request
// whose context ends mid-response stops both the handler and the store, and
// aborts the response.
func TestContextCancelledMidStream(t *testing.T) {
	store, _ := newStore(t, generated(5000))
	wrapped := newWrapStore(store)
	h := newHandler(t, wrapped, nil)

	ctx, cancel := context.WithCancel(t.Context())
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/v1/audit-events", nil)
	rec := httptest.NewRecorder()
	w := &cancelAfterWrites{ResponseWriter: rec, writes: 1, cancel: cancel}
	aborted := func() (aborted bool) {
		defer func() {
			if r := recover(); r != nil {
				if r != http.ErrAbortHandler {
					panic(r)
				}
				aborted = true
			}
		}()
		h.List().ServeHTTP(w, req)
		return false
	}()
	if !aborted {
		t.Errorf("handler returned normally, want it to abort with http.ErrAbortHandler")
	}
	<-wrapped.done
	if got, max := wrapped.yielded.Load(), int64(5000); got >= max {
		t.Errorf("events yielded: got %d, want fewer than %d", got, max)
	}
}

// cancelAfterWrites cancels a context after a number of writes, as a client
// that goes away does.
type cancelAfterWrites struct {
	http.ResponseWriter
	writes int
	cancel context.CancelFunc
}

func (w *cancelAfterWrites) Write(p []byte) (int, error) {
	w.writes--
	if w.writes == 0 {
		w.cancel()
	}
	return w.ResponseWriter.Write(p)
}

// TestMounting checks Register on a ServeMux beside the host's own routes,
// with the default and custom prefixes, and the plain handlers elsewhere.
func TestMounting(t *testing.T) {
	store, all := newStore(t, fixture())
	for _, tt := range []struct {
		name, prefix, list string
	}{
		{"default", "", "/v1/audit-events"},
		{"custom", "/api/audit/", "/api/audit/audit-events"},
		{"root", "/", "/audit-events"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := http.NewServeMux()
			m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
			newHandler(t, store, &httpapi.Options{Prefix: tt.prefix}).Register(m)

			for _, c := range []struct {
				path   string
				status int
			}{
				{tt.list, http.StatusOK},
				{tt.list + "/download", http.StatusOK},
				{"/healthz", http.StatusOK},
				{tt.list + "/other", http.StatusNotFound},
			} {
				if got, want := do(t, m, http.MethodGet, c.path).Code, c.status; got != want {
					t.Errorf("GET %s: got %d, want %d", c.path, got, want)
				}
			}
			if got, want := len(decodeEvents(t, do(t, m, http.MethodGet, tt.list).Body.Bytes())), len(all); got != want {
				t.Errorf("events: got %d, want %d", got, want)
			}
			// The mux leaves the method to the endpoints: 405, not 404.
			if got, want := do(t, m, http.MethodPost, tt.list).Code, http.StatusMethodNotAllowed; got != want {
				t.Errorf("POST: got %d, want %d", got, want)
			}
		})
	}
}

// TestLinks checks that the Link of a paged response names the path the
// request arrived on, wherever the handler is mounted, or Options.BaseURL
// when a host sets it for a proxy that serves the API under another path.
func TestLinks(t *testing.T) {
	store, all := newStore(t, fixture())
	query := "?cursor=" + url.QueryEscape(all[0].Cursor().String()) + "&limit=1"
	plain := newHandler(t, store, nil)
	stripped := http.NewServeMux()
	plain.Register(stripped)
	for _, tt := range []struct {
		name    string
		handler http.Handler
		target  string
		want    string // the Link's URL without its query
	}{
		{"registered", mux(plain), "/v1/audit-events?limit=1", "/v1/audit-events"},
		{"plain handler at another path", plain.List(), "/anything?limit=1", "/anything"},
		{"download", mux(plain), "/v1/audit-events/download?limit=1", "/v1/audit-events/download"},
		{"under StripPrefix", http.StripPrefix("/api", stripped), "/api/v1/audit-events?limit=1", "/api/v1/audit-events"},
		{"escaped path", plain.List(), "/a%20b/%3E?limit=1", "/a%20b/%3E"},
		{"no link to another host", plain.List(), "//evil.example/v1/audit-events?limit=1", "/evil.example/v1/audit-events"},
		{"absolute-form request target", plain.List(), "http://audit.example/v1/audit-events?limit=1", "/v1/audit-events"},
		{"BaseURL path", newHandler(t, store, &httpapi.Options{BaseURL: "/audit/v1/"}).List(), "/v1/audit-events?limit=1", "/audit/v1/audit-events"},
		{"BaseURL URL", mux(newHandler(t, store, &httpapi.Options{BaseURL: "https://example.com/audit/v1"})), "/v1/audit-events/download?limit=1", "https://example.com/audit/v1/audit-events/download"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, tt.handler, http.MethodGet, tt.target)
			if got, want := res.Header().Get("Link"), "<"+tt.want+query+`>; rel="next"`; got != want {
				t.Errorf("Link: got %q, want %q", got, want)
			}
		})
	}
	t.Run("request built in Go", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, "http://audit.example/api/v1/audit-events?limit=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		res := httptest.NewRecorder()
		plain.List().ServeHTTP(res, req)
		if got, want := res.Header().Get("Link"), "</api/v1/audit-events"+query+`>; rel="next"`; got != want {
			t.Errorf("Link: got %q, want %q", got, want)
		}
	})
}

func TestNewErrors(t *testing.T) {
	store, _ := newStore(t, nil)
	for _, tt := range []struct {
		name  string
		store auditevents.Store
		opts  *httpapi.Options
		want  string
	}{
		{"nil store", nil, nil, "store is nil"},
		{"relative prefix", store, &httpapi.Options{Prefix: "v1"}, `Prefix "v1" must start with "/"`},
		{"pattern in prefix", store, &httpapi.Options{Prefix: "/{tenant}"}, `Prefix "/{tenant}" may hold only`},
		{"query in prefix", store, &httpapi.Options{Prefix: "/v1?x"}, `may hold only`},
		{"negative MaxLimit", store, &httpapi.Options{MaxLimit: -1}, "MaxLimit is -1"},
		{"relative BaseURL", store, &httpapi.Options{BaseURL: "audit/v1"}, `BaseURL "audit/v1" must be an http or https URL with a host, or a path`},
		{"BaseURL of another scheme", store, &httpapi.Options{BaseURL: "javascript:alert(1)"}, `must be an http or https URL`},
		{"BaseURL without a host", store, &httpapi.Options{BaseURL: "//"}, `must be an http or https URL`},
		{"BaseURL with a query", store, &httpapi.Options{BaseURL: "/v1?x=1"}, `BaseURL "/v1?x=1" must not hold a query`},
		{"BaseURL with credentials", store, &httpapi.Options{BaseURL: "https://u:p@example.com/v1"}, `must not hold a query, a fragment or credentials`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, err := httpapi.New(tt.store, tt.opts)
			if !errors.Is(err, httpapi.ErrInvalidOptions) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: got %v, %v; want an error wrapping ErrInvalidOptions containing %q", h, err, tt.want)
			}
		})
	}
}

// TestConcurrentRequests serves many requests at once from one Handler
// while events are appended, for the race detector.
func TestConcurrentRequests(t *testing.T) {
	g := storetest.NewGenerator(1)
	store, all := newStore(t, g.Events(300))
	h := mux(newHandler(t, store, &httpapi.Options{Envelope: true}))
	targets := []string{"/v1/audit-events", "/v1/audit-events/download", "/v1/audit-events?limit=7", "/v1/audit-events?user=" + url.QueryEscape(all[0].User)}
	errs := make(chan error, 4*len(targets))
	for i := range 4 * len(targets) {
		go func() {
			res := do(t, h, http.MethodGet, targets[i%len(targets)])
			if res.Code != http.StatusOK {
				errs <- fmt.Errorf("%s: status %d", targets[i%len(targets)], res.Code)
				return
			}
			errs <- nil
		}()
	}
	for _, e := range g.After(50) { // newer events, recorded live
		if err := store.Append(t.Context(), e); err != nil {
			t.Fatal(err)
		}
	}
	var failed []string
	for range 4 * len(targets) {
		if err := <-errs; err != nil {
			failed = append(failed, err.Error())
		}
	}
	slices.Sort(failed)
	if len(failed) > 0 {
		t.Errorf("failed requests: %v", failed)
	}
}

// countingWriter is a ResponseWriter that counts the body's bytes and keeps
// none of them.
type countingWriter struct {
	discardWriter
	n int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// TestMemoryFlat checks that a large response is streamed, not buffered:
// serving 100,000 events allocates a small fraction of the body's size, as
// JSON, CSV and JSON Lines.
func TestMemoryFlat(t *testing.T) {
	store, _ := newStore(t, generated(100_000))
	h := mux(newHandler(t, store, nil))
	for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download", "/v1/audit-events/download?format=jsonl"} {
		t.Run(path, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			w := &countingWriter{discardWriter: discardWriter{header: make(http.Header)}}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			h.ServeHTTP(w, req)
			runtime.ReadMemStats(&after)
			allocated := after.TotalAlloc - before.TotalAlloc
			if w.n < 10<<20 {
				t.Fatalf("body: got %d bytes, want more than 10 MiB", w.n)
			}
			t.Logf("allocated %d bytes for a %d-byte body", allocated, w.n)
			if limit := uint64(w.n / 20); allocated > limit {
				t.Errorf("allocated %d bytes serving a %d-byte body, want at most %d", allocated, w.n, limit)
			}
		})
	}
}

// The remedy that Register's doc gives for a ServeMux with a method and
// wildcard pattern works: both the host's route and the API answer.
func TestMountWithMethodPatterns(t *testing.T) {
	store, all := newStore(t, generated(3))
	h := newHandler(t, store, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/{collection}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "host:", r.PathValue("collection"))
	})
	mux.Handle("GET /v1/audit-events", h.List())
	mux.Handle("GET /v1/audit-events/download", h.Download())
	if got := do(t, mux, http.MethodGet, "/v1/widgets").Body.String(); got != "host:widgets" {
		t.Errorf("host route: got %q", got)
	}
	if got := ids(decodeEvents(t, do(t, mux, http.MethodGet, "/v1/audit-events").Body.Bytes())); len(got) != len(all) {
		t.Errorf("list: got %d events, want %d", len(got), len(all))
	}
	if got := do(t, mux, http.MethodHead, "/v1/audit-events/download").Code; got != http.StatusOK {
		t.Errorf("HEAD download: status %d", got)
	}
}
