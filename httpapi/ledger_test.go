package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/memstore"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// logServer serves a memstore with events in accounts acme and other, with
// the log's endpoints, authorizing the account named by the X-Account
// header.
func logServer(t *testing.T) (*httptest.Server, *memstore.Store, note.Verifier) {
	t.Helper()
	skey, vkey, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	s := memstore.New()
	t.Cleanup(func() { s.Close() })
	rec := auditevents.NewRecorder(s, nil)
	for i := range 50 {
		e := auditevents.AuditEvent{User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent,
			ResourceName: fmt.Sprint("agent-", i), Account: "acme", Timestamp: t0.Add(time.Duration(i) * time.Second)}
		if i%5 == 0 {
			e.Account = "other"
		}
		if err := rec.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	return serveLog(t, s, signer), s, verifier
}

// serveLog serves the store with the log's endpoints, authorizing the
// account named by the X-Account header.
func serveLog(t *testing.T, s auditevents.Store, signer note.Signer) *httptest.Server {
	t.Helper()
	h, err := httpapi.New(s, &httpapi.Options{
		Logger: slog.New(slog.DiscardHandler),
		Authorize: func(r *http.Request) (string, error) {
			a := r.Header.Get("X-Account")
			if a == "" {
				return "", httpapi.ErrUnauthorized
			}
			return a, nil
		},
		Log: &httpapi.LogOptions{Name: "example.com/audit", Signer: signer},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// An auditor with only the URL, credentials and the public key verifies the
// account's log through the endpoints, and the proofs check with tlog.
func TestLogEndpointsVerify(t *testing.T) {
	srv, s, verifier := logServer(t)
	ctx := context.Background()
	c := &httpapi.LogClient{BaseURL: srv.URL + "/v1", Header: http.Header{"X-Account": {"acme"}}}
	cp, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	rep, err := auditevents.Verify(ctx, c, auditevents.VerifyOptions{Verifier: verifier, Origin: "example.com/audit/acme", Checkpoint: cp})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if rep.Checkpoint.Size != 40 || rep.Events != 32 || rep.PrunedCount() != 8 {
		t.Errorf("verified size %d, %d events, %d pruned; want 40, 32, 8", rep.Checkpoint.Size, rep.Events, rep.PrunedCount())
	}

	// An inclusion proof for an event of the account checks against
	// the checkpoint's root.
	var last auditevents.Entry
	for e, err := range s.Entries(ctx, "acme", 39) {
		if err != nil {
			t.Fatal(err)
		}
		last = e
	}
	var body struct {
		Seq   int64       `json:"seq"`
		Size  int64       `json:"size"`
		Proof []tlog.Hash `json:"proof"`
	}
	getJSON(t, srv.URL+"/v1/audit-events/log/inclusion?id="+last.Event.ID+"&size=40", "acme", http.StatusOK, &body)
	if err := tlog.CheckRecord(body.Proof, 40, rep.Checkpoint.Hash, body.Seq, auditevents.LeafHash(39, &last.Event)); err != nil || body.Seq != 39 {
		t.Errorf("inclusion proof of sequence %d: %v", body.Seq, err)
	}
	getJSON(t, srv.URL+"/v1/audit-events/log/consistency?from=7&to=40", "acme", http.StatusOK, &body)
	if len(body.Proof) == 0 {
		t.Error("empty consistency proof")
	}
}

func getJSON(t *testing.T, url, account string, status int, v any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if account != "" {
		req.Header.Set("X-Account", account)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, status)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: %v in %s", url, err, b)
	}
}

// Bad parameters, sizes beyond the tree and another account's event are
// 400s with the spec's error shape, never 500s.
func TestLogEndpointsErrors(t *testing.T) {
	srv, s, _ := logServer(t)
	var otherID string
	for e, err := range s.Entries(context.Background(), "other", 0) {
		if err != nil {
			t.Fatal(err)
		}
		otherID = e.Event.ID
		break
	}
	for _, tc := range []struct {
		path, says string
	}{
		{"/inclusion?id=nope", "invalid id"},
		{"/inclusion?id=" + otherID, "invalid id"},
		{"/consistency?from=3&to=41", "invalid to"},
		{"/consistency?from=30&to=20", "invalid from"},
		{"/consistency?from=x", "invalid from"},
		{"/entries?from=41", "invalid from"},
		{"/entries?from=-1", "invalid from"},
		{"/hashes?index=100000", "invalid index"},
		{"/hashes", "invalid index"},
	} {
		var er struct{ Errors []string }
		getJSON(t, srv.URL+"/v1/audit-events/log"+tc.path, "acme", http.StatusBadRequest, &er)
		if len(er.Errors) != 1 || !strings.Contains(er.Errors[0], tc.says) {
			t.Errorf("%s: errors %q, want one saying %q", tc.path, er.Errors, tc.says)
		}
	}
	var er struct{ Errors []string }
	getJSON(t, srv.URL+"/v1/audit-events/log/checkpoint", "", http.StatusUnauthorized, &er)
}

func TestLogOptionsNeedALedger(t *testing.T) {
	_, err := httpapi.New(struct{ auditevents.Store }{memstore.New()}, &httpapi.Options{Log: &httpapi.LogOptions{Name: "x"}})
	if !errors.Is(err, httpapi.ErrInvalidOptions) {
		t.Errorf("New with Log over a plain Store = %v, want ErrInvalidOptions", err)
	}
}

// An entries response cut short on the way, at a line boundary and without
// its count trailer, is an I/O error for the verifier, never a verdict that
// the log was tampered with: an honest log must not fail because a proxy
// dropped the end of a response.
func TestLogClientRefusesACutEntriesResponse(t *testing.T) {
	srv, _, verifier := logServer(t)
	ctx := context.Background()
	cut := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := http.DefaultTransport.RoundTrip(r)
		if err != nil || !strings.HasSuffix(r.URL.Path, httpapi.EntriesPath) {
			return resp, err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, err
		}
		lines := strings.SplitAfter(string(body), "\n")
		resp.Body = io.NopCloser(strings.NewReader(strings.Join(lines[:len(lines)/2], "")))
		resp.Trailer = nil
		return resp, nil
	})}
	c := &httpapi.LogClient{BaseURL: srv.URL + "/v1", Header: http.Header{"X-Account": {"acme"}}, Client: cut}
	cp, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = auditevents.Verify(ctx, c, auditevents.VerifyOptions{Verifier: verifier, Origin: "example.com/audit/acme", Checkpoint: cp})
	if err == nil || errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), "incomplete") {
		t.Fatalf("Verify over a cut entries response = %v; want an error saying the response is incomplete, not ErrTampered", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The log's endpoints take only their own parameters, each once, and an
// account parameter only when it is the caller's own: a misspelled or
// repeated parameter, or a request for another account's log, is a 400
// naming it, never an answer about something else.
func TestLogEndpointsRefuseParameters(t *testing.T) {
	srv, s, _ := logServer(t)
	entry, err := s.Lookup(context.Background(), idAt(t, s, "acme", 7))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, query, param string
	}{
		{"unknown", "/audit-events/log/checkpoint?acount=acme", "parameter"},
		{"not this endpoint's", "/audit-events/log/checkpoint?from=1", "parameter"},
		{"repeated", "/audit-events/log/entries?from=1&from=2", "from"},
		{"another account", "/audit-events/log/checkpoint?account=other", "account"},
		{"an account no event can hold", "/audit-events/log/checkpoint?account=%00", "account"},
		{"inclusion in a tree too small", fmt.Sprintf("/audit-events/log/inclusion?id=%s&size=%d", entry.Event.ID, entry.Seq), "size"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1"+tt.query, nil)
			req.Header.Set("X-Account", "acme")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct{ Errors []string }
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != http.StatusBadRequest || len(body.Errors) != 1 || !strings.HasPrefix(body.Errors[0], "invalid "+tt.param+" ") {
				t.Errorf("GET %s = %d %q; want 400 naming %s", tt.query, resp.StatusCode, body.Errors, tt.param)
			}
		})
	}
	// The caller's own account is accepted.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/audit-events/log/checkpoint?account=acme", nil)
	req.Header.Set("X-Account", "acme")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("checkpoint?account=acme with acme's credentials = %d, want 200", resp.StatusCode)
	}
}

// idAt returns the ID of the account's event at sequence seq.
func idAt(t *testing.T, s *memstore.Store, account string, seq int64) string {
	t.Helper()
	for e, err := range s.Entries(context.Background(), account, seq) {
		if err != nil {
			t.Fatal(err)
		}
		return e.Event.ID
	}
	t.Fatalf("no event at sequence %d", seq)
	return ""
}

// lostTile is a store that, like store/boltstore, computes the leaves of a
// tile of 16 from its events, one of which, sequence 20 of acme, was
// deleted outside it: Entries skips it, and the hashes below level 4 of its
// tile cannot be computed (auditevents.ErrHashUnavailable).
type lostTile struct {
	*memstore.Store
}

func (l lostTile) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		for e, err := range l.Store.Entries(ctx, account, from) {
			if err == nil && account == "acme" && e.Seq == 20 {
				continue
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func (l lostTile) ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error) {
	for _, x := range indexes {
		if level, k := tlog.SplitStoredHashIndex(x); account == "acme" && level < 4 && k<<level/16 == 1 {
			return nil, fmt.Errorf("the event of sequence 20 is not stored: %w", auditevents.ErrHashUnavailable)
		}
	}
	return l.Store.ReadHashes(ctx, account, indexes)
}

// A hash the server's store cannot compute again is a 409, which LogClient
// turns back into ErrHashUnavailable, so that Verify through the endpoints
// names the deleted event as it does on the store itself.
func TestLogEndpointsHashUnavailable(t *testing.T) {
	srv, s, verifier := logServer(t)
	ctx := context.Background()
	c := &httpapi.LogClient{BaseURL: srv.URL + "/v1", Header: http.Header{"X-Account": {"acme"}}}
	cp, err := c.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	skey, _, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey) // signs nothing here: cp is the checkpoint to verify
	lost := serveLog(t, lostTile{s}, signer)
	var body struct {
		Errors []string `json:"errors"`
	}
	getJSON(t, lost.URL+"/v1/audit-events/log/hashes?index="+fmt.Sprint(tlog.StoredHashIndex(0, 20)), "acme", http.StatusConflict, &body)
	if len(body.Errors) != 1 || !strings.HasPrefix(body.Errors[0], "hash unavailable") {
		t.Errorf("the 409 says %q, want one error starting with %q", body.Errors, "hash unavailable")
	}
	c.BaseURL = lost.URL + "/v1"
	if _, err := c.ReadHashes(ctx, []int64{tlog.StoredHashIndex(0, 20)}); !errors.Is(err, auditevents.ErrHashUnavailable) {
		t.Errorf("LogClient.ReadHashes = %v, want ErrHashUnavailable", err)
	}
	_, err = auditevents.Verify(ctx, c, auditevents.VerifyOptions{Verifier: verifier, Origin: "example.com/audit/acme", Checkpoint: cp})
	if !errors.Is(err, auditevents.ErrTampered) || err.Error() != "auditevents: log does not verify\n\tremoved: sequence 20 missing (not pruned)" {
		t.Errorf("Verify through the endpoints = %v, want sequence 20 removed and nothing else", err)
	}
}

// The inclusion and consistency proofs that need a hash the server's store
// cannot compute again answer the hashes endpoint's 409, not a server
// error: a user asking for the proof of an event next to a deleted one
// learns that the store's events were changed, which the hashes endpoint
// lets a verifier work around, and the host's logs see no internal error.
func TestProofEndpointsHashUnavailable(t *testing.T) {
	_, s, _ := logServer(t)
	skey, _, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	lost := serveLog(t, lostTile{s}, signer)
	id := idAt(t, s, "acme", 21) // in the tile of the deleted sequence 20
	for _, target := range []string{
		"/v1/audit-events/log/inclusion?id=" + id,
		"/v1/audit-events/log/consistency?from=20",
	} {
		var body struct {
			Errors []string `json:"errors"`
		}
		getJSON(t, lost.URL+target, "acme", http.StatusConflict, &body)
		if len(body.Errors) != 1 || !strings.HasPrefix(body.Errors[0], "hash unavailable") {
			t.Errorf("GET %s: the 409 says %q, want one error starting with %q", target, body.Errors, "hash unavailable")
		}
	}
}
