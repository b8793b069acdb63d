package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/auditevents/auditevents/httpapi"
)

// FuzzQuery sends arbitrary query strings to both endpoints and checks that
// every answer is a 200 with a well-formed body (CSV, or JSON Lines when the
// download is asked for them) and the count trailer, or a 400 with one error
// message: never a panic, a 500 or a malformed body. It sends them to the
// live tail too, as HEAD, which answers once the parameters are read: 200
// or 400.
func FuzzQuery(f *testing.F) {
	for _, seed := range []string{
		"", "user=alice", "configuration-name=prod%3A2&limit=2", "min-date=2025-03-14+09%3A26%3A55.000000-07",
		"max-date=20250314092655&min-date=20250314092653", "limit=1&cursor=1741944413589793_01JP9ZMQCNABYZR1S1G9JMY5HZ",
		"resource-kind=Agent&action=Deleted&resource-name=agent-1", "user=%ff", "a;b", "%zz", "usr=x", "limit=-1",
		"user=a&user=b", strings.Repeat("x=1&", 40), "format=jsonl&user=alice", "format=xml", "from=0&action=Created",
		"from=99", "account=acme&from=1",
	} {
		f.Add(seed)
	}
	store, _ := newStore(f, fixture())
	h := mux(newHandler(f, store, &httpapi.Options{Tail: &httpapi.TailOptions{}}))
	f.Fuzz(func(t *testing.T, query string) {
		req := httptest.NewRequest(http.MethodHead, "/v1/audit-events/tail", nil)
		req.URL.RawQuery = query
		res := httptest.NewRecorder()
		h.ServeHTTP(res, req)
		if res.Code != http.StatusOK && res.Code != http.StatusBadRequest {
			t.Fatalf("HEAD tail?%s: status %d, want 200 or 400", query, res.Code)
		}
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
				switch {
				case res.Header().Get("Content-Type") == "application/x-ndjson":
					for line := range bytes.Lines(res.Body.Bytes()) {
						if !json.Valid(line) {
							t.Fatalf("%s?%s: line %q is not JSON", path, query, line)
						}
					}
				case strings.HasSuffix(path, "download"):
					readCSV(t, res.Body.Bytes())
				default:
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
