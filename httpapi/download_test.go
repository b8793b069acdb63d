package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents/encode"
	"github.com/auditevents/auditevents/httpapi"
)

// TestDownloadJSONLines checks the download's JSON Lines: asked for by the
// format parameter or the Accept header, it holds the same events as the
// CSV, one encode.JSONLines line each, newest first, with its own headers
// and the count trailer; every request that does not ask gets the CSV.
func TestDownloadJSONLines(t *testing.T) {
	store, all := newStore(t, fixture())
	now := time.Date(2025, 6, 1, 23, 59, 58, 0, time.UTC)
	h := newHandler(t, store, &httpapi.Options{Now: func() time.Time { return now }})
	srv := httptest.NewServer(mux(h))
	t.Cleanup(srv.Close)
	want := encode.JSONLines{}.AppendBatch(nil, all)

	for _, tc := range []struct {
		name, query, accept string
		jsonl               bool
	}{
		{"spec request", "", "", false},
		{"any type", "", "*/*", false},
		{"octet-stream", "", "application/octet-stream", false},
		{"JSON asked of the download", "", "application/json", false},
		{"ndjson", "", "application/x-ndjson", true},
		{"jsonl media type", "", "application/jsonl", true},
		{"ndjson preferred", "", "application/octet-stream;q=0.5, application/x-ndjson", true},
		{"ndjson below CSV", "", "application/x-ndjson;q=0.5, text/csv", false},
		{"ndjson tied with CSV", "", "application/x-ndjson, application/octet-stream", false},
		{"ndjson refused", "", "application/x-ndjson;q=0", false},
		{"format parameter", "format=jsonl", "", true},
		{"format csv over Accept", "format=csv", "application/x-ndjson", false},
		{"format jsonl over Accept", "format=jsonl", "text/csv", true},
		{"empty format", "format=", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/audit-events/download?"+tc.query, nil)
			if tc.accept != "" {
				req.Header.Set("Accept", tc.accept)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body bytes.Buffer
			if _, err := body.ReadFrom(res.Body); err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, body %s", res.StatusCode, body.Bytes())
			}
			if got, want := res.Trailer.Get(httpapi.CountTrailer), strconv.Itoa(len(all)); got != want {
				t.Errorf("trailer: got %q, want %q", got, want)
			}
			if !tc.jsonl {
				if got, want := res.Header.Get("Content-Type"), "application/octet-stream"; got != want {
					t.Errorf("Content-Type: got %q, want %q", got, want)
				}
				if got := len(readCSV(t, body.Bytes())); got != len(all) {
					t.Errorf("CSV rows: got %d, want %d", got, len(all))
				}
				return
			}
			for name, want := range map[string]string{
				"Content-Type":        "application/x-ndjson",
				"Content-Disposition": `attachment; filename="audit-events-20250601T235958Z.jsonl"`,
				"Cache-Control":       "no-store",
			} {
				if got := res.Header.Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
			if !bytes.Equal(body.Bytes(), want) {
				t.Errorf("body:\ngot  %s\nwant %s", body.Bytes(), want)
			}
		})
	}

	t.Run("empty", func(t *testing.T) {
		res := do(t, h.Download(), http.MethodGet, "/x?format=jsonl&user=nobody")
		if res.Code != http.StatusOK || res.Body.Len() != 0 || res.Header().Get("Content-Type") != "application/x-ndjson" || res.Header().Get(httpapi.CountTrailer) != "0" {
			t.Errorf("got %d %q, Content-Type %q, count %q; want 200, no body, JSON Lines, 0", res.Code, res.Body, res.Header().Get("Content-Type"), res.Header().Get(httpapi.CountTrailer))
		}
	})
	t.Run("paged", func(t *testing.T) {
		res := do(t, h.Download(), http.MethodGet, "/v1/audit-events/download?format=jsonl&limit=2")
		if got := strings.Count(res.Body.String(), "\n"); got != 2 {
			t.Errorf("lines: got %d, want 2", got)
		}
		if link := res.Header().Get("Link"); !strings.Contains(link, "format=jsonl") {
			t.Errorf("Link %q: want the next page in JSON Lines too", link)
		}
	})
	t.Run("bad format", func(t *testing.T) {
		for query, want := range map[string]string{
			"format=xml":               `invalid format "xml": expected csv (the default) or jsonl`,
			"format=jsonl&format=csv":  `invalid format "jsonl,csv": given more than once`,
			"colour=red&format=jsonl":  `invalid parameter "colour": unknown; accepted parameters are configuration-name`,
			"colour=red":               "format (csv or jsonl)",
			"format=jsonl&limit=99999": `invalid limit "99999"`,
		} {
			res := do(t, h.Download(), http.MethodGet, "/x?"+query)
			if res.Code != http.StatusBadRequest || res.Header().Get("Content-Type") != "application/octet-stream" {
				t.Errorf("%s: status %d, Content-Type %q; want 400 application/octet-stream", query, res.Code, res.Header().Get("Content-Type"))
				continue
			}
			if msg := decodeErrors(t, res.Body.Bytes()); !strings.Contains(msg, want) {
				t.Errorf("%s: message %q, want it to contain %q", query, msg, want)
			}
		}
	})
	t.Run("not a list parameter", func(t *testing.T) {
		res := do(t, h.List(), http.MethodGet, "/x?format=jsonl")
		if res.Code != http.StatusBadRequest {
			t.Errorf("list with format: status %d, want 400", res.Code)
		}
	})
}
