package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/auditevents/auditevents/httpapi"
)

// FuzzQuery sends arbitrary query strings to both endpoints and checks that
// every answer is a 200 with a well-formed body and the count trailer, or a
// 400 with one error message: never a panic, a 500 or a malformed body.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		"", "user=alice", "configuration-name=prod%3A2&limit=2", "min-date=2025-03-14+09%3A26%3A55.000000-07",
		"max-date=20250314092655&min-date=20250314092653", "limit=1&cursor=1741944413589793_01JP9ZMQCNABYZR1S1G9JMY5HZ",
		"resource-kind=Agent&action=Deleted&resource-name=agent-1", "user=%ff", "a;b", "%zz", "usr=x", "limit=-1",
		"user=a&user=b", strings.Repeat("x=1&", 40),
	} {
		f.Add(seed)
	}
	store, _ := newStore(f, fixture())
	h := mux(newHandler(f, store, nil))
	f.Fuzz(func(t *testing.T, query string) {
		for _, path := range []string{"/v1/audit-events", "/v1/audit-events/download"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			req.URL.RawQuery = query
			res := httptest.NewRecorder()
			h.ServeHTTP(res, req)
			switch res.Code {
			case http.StatusOK:
				if res.Result().Trailer.Get(httpapi.CountTrailer) == "" {
					t.Fatalf("%s?%s: a complete 200 without the %s trailer", path, query, httpapi.CountTrailer)
				}
				if strings.HasSuffix(path, "download") {
					readCSV(t, res.Body.Bytes())
				} else {
					var events []json.RawMessage
					if err := json.Unmarshal(res.Body.Bytes(), &events); err != nil {
						t.Fatalf("%s?%s: body %q: %v", path, query, res.Body, err)
					}
				}
			case http.StatusBadRequest:
				decodeErrors(t, res.Body.Bytes())
			default:
				t.Fatalf("%s?%s: status %d, want 200 or 400; body %s", path, query, res.Code, res.Body)
			}
		}
	})
}
