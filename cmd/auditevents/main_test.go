package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/boltstore"
	"github.com/auditevents/auditevents/store/memstore"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// serve starts a server of n events of account acme, every third with actor
// context (its sequence in the address, "192.0.2.<seq>"), signing with the
// signer key in file skeyFile, requiring the API key "k", and passing the
// entries' bodies through edit.
func serve(t testing.TB, skeyFile string, n int, edit func(string) string) string {
	t.Helper()
	skey, err := os.ReadFile(skeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	s := memstore.New()
	t.Cleanup(func() { s.Close() })
	for i := range n {
		e := auditevents.AuditEvent{ID: fmt.Sprintf("01JPAQ%020d", i), Timestamp: t0.Add(time.Duration(i) * time.Second), Account: "acme",
			User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent, ResourceName: fmt.Sprint("agent-", i)}
		if i%3 == 0 {
			setActor(&e, i)
		}
		if err := s.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	h, err := httpapi.New(s, &httpapi.Options{
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("X-Bindplane-Api-Key") != "k" {
				return "", httpapi.ErrUnauthorized
			}
			return "acme", nil
		},
		Log: &httpapi.LogOptions{Name: "example.com/audit", Signer: signer},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if edit == nil || !strings.HasSuffix(r.URL.Path, httpapi.EntriesPath) {
			mux.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		// A tampering server sends a body that looks complete: the count
		// trailer comes along.
		w.Header().Set("Trailer", httpapi.CountTrailer)
		w.WriteHeader(rec.Code)
		w.Write([]byte(edit(rec.Body.String())))
		w.Header().Set(httpapi.CountTrailer, rec.Result().Trailer.Get(httpapi.CountTrailer))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/v1"
}

// setActor gives e actor context, its address naming i.
func setActor(e *auditevents.AuditEvent, i int) {
	e.IPAddress = fmt.Sprintf("192.0.2.%d", i%256)
	e.UserAgent = "curl/8.5.0"
	e.RequestID = fmt.Sprintf("req-%d", i)
	e.Metadata = map[string]string{"session": "s-1", "region": "eu-west-1"}
}

func runCmd(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// The commands as a user runs them: keygen, checkpoint, then verify of an
// untouched log (status 0), a tampered one and a rolled back one (status 1,
// naming what is wrong).
func TestCommands(t *testing.T) {
	t.Chdir(t.TempDir())
	if code, out, errOut := runCmd(t, "keygen", "-name", "example.com/audit"); code != 0 || !strings.Contains(out, "example.com-audit.pub") {
		t.Fatalf("keygen = %d, %s %s", code, out, errOut)
	}
	url := serve(t, "example.com-audit.key", 50, nil)
	if code, _, errOut := runCmd(t, "checkpoint", "-url", url, "-key", "k", "-header", "Authorization"); code != 2 || !strings.Contains(errOut, "401") {
		t.Errorf("checkpoint with the key in another header = %d, %q; want 2 and a 401", code, errOut)
	}
	code, out, errOut := runCmd(t, "checkpoint", "-url", url, "-key", "k", "-out", "saved.ckpt")
	if code != 0 || !strings.HasPrefix(out, "example.com/audit/acme\n50\n") {
		t.Fatalf("checkpoint = %d, %q %s", code, out, errOut)
	}
	verify := []string{"verify", "-url", url, "-key", "k", "-vkey", "example.com-audit.pub", "-log", "example.com/audit", "-account", "acme"}
	code, out, errOut = runCmd(t, append(verify, "-previous", "saved.ckpt")...)
	if code != 0 || !strings.Contains(out, "OK: example.com/audit/acme, size 50: 50 events verified") || !strings.Contains(errOut, "verified 50 of 50") {
		t.Fatalf("verify = %d, %q %q", code, out, errOut)
	}

	tampered := serve(t, "example.com-audit.key", 50, func(body string) string {
		return strings.Replace(body, `"agent-17"`, `"agent-71"`, 1)
	})
	tamperedArgs := slicesReplace(verify, url, tampered)
	if code, _, errOut := runCmd(t, tamperedArgs...); code != 1 || !strings.Contains(errOut, "modified: the event at sequence 17 differs") {
		t.Errorf("verify of a tampered log = %d, %q; want 1 naming sequence 17", code, errOut)
	}

	// The actor fields are in the leaf: changing one, or removing the
	// metadata, is a modification too.
	for _, tc := range []struct{ name, old, new string }{
		{"address", `"ipAddress":"192.0.2.33"`, `"ipAddress":"192.0.2.34"`},
		{"request ID", `"requestId":"req-33"`, `"requestId":"req-34"`},
		{"metadata", `,"metadata":{"region":"eu-west-1","session":"s-1"}}`, `}`},
	} {
		tampered := serve(t, "example.com-audit.key", 50, func(body string) string {
			i := strings.Index(body, `"id":"01JPAQ00000000000000000033"`)
			if i < 0 || !strings.Contains(body[i:], tc.old) {
				t.Errorf("%s: the entries do not hold %s", tc.name, tc.old)
				return body
			}
			return body[:i] + strings.Replace(body[i:], tc.old, tc.new, 1)
		})
		if code, _, errOut := runCmd(t, slicesReplace(verify, url, tampered)...); code != 1 || !strings.Contains(errOut, "modified: the event at sequence 33 differs") {
			t.Errorf("verify of a log with the %s of an event changed = %d, %q; want 1 naming sequence 33", tc.name, code, errOut)
		}
	}

	older := serve(t, "example.com-audit.key", 30, nil)
	olderArgs := append(slicesReplace(verify, url, older), "-previous", "saved.ckpt")
	if code, _, errOut := runCmd(t, olderArgs...); code != 1 || !strings.Contains(errOut, "rolled back: the log has 30 sequences, below the size 50") {
		t.Errorf("verify of a rolled back log = %d, %q; want 1 saying rolled back", code, errOut)
	}

	// The same older server checked against the saved checkpoint itself.
	olderSaved := append(slicesReplace(verify, url, older), "-checkpoint", "saved.ckpt")
	if code, _, errOut := runCmd(t, olderSaved...); code != 1 || !strings.Contains(errOut, "rolled back: the log has 30 sequences, below the size 50") {
		t.Errorf("verify of a rolled back log against the saved checkpoint = %d, %q; want 1 saying rolled back", code, errOut)
	}

	otherKey := filepath.Join(t.TempDir(), "other")
	os.MkdirAll(otherKey, 0o755)
	t.Chdir(otherKey)
	runCmd(t, "keygen", "-name", "example.com/audit")
	if code, _, errOut := runCmd(t, verify...); code != 1 || !strings.Contains(errOut, "bad checkpoint") {
		t.Errorf("verify with another key = %d, %q; want 1 saying bad checkpoint", code, errOut)
	}
	if code, _, _ := runCmd(t, "verify", "-vkey", "example.com-audit.pub"); code != 2 {
		t.Errorf("verify without -url = %d, want 2", code)
	}
}

func slicesReplace(s []string, old, new string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		if v == old {
			v = new
		}
		out[i] = v
	}
	return out
}

// writeFile writes a boltstore file of n events of account acme, appended
// in batches of 1,000.
func writeFile(tb testing.TB, path string, n int) { writeFileWith(tb, path, n, false) }

// writeFileWith is writeFile, with actor context on every third event when
// actor is set.
func writeFileWith(tb testing.TB, path string, n int, actor bool) {
	tb.Helper()
	s, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		tb.Fatal(err)
	}
	batch := make([]auditevents.AuditEvent, 0, 1000)
	for i := range n {
		batch = append(batch, auditevents.AuditEvent{ID: fmt.Sprintf("01JPAQ%020d", i), Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Account: "acme",
			User: fmt.Sprintf("user-%d@example.com", i%50), Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration,
			ResourceName: fmt.Sprint("config-", i%500), Configuration: fmt.Sprintf("config-%d:%d", i%500, i%7), Description: "Configuration modified"})
		if actor && i%3 == 0 {
			setActor(&batch[len(batch)-1], i)
		}
		if len(batch) == cap(batch) || i == n-1 {
			if err := s.Append(context.Background(), batch...); err != nil {
				tb.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

// verifiedFile makes a key, writes the file audit.db of n events of account
// acme (see writeFileWith), saves a checkpoint of it, checks that it
// verifies, and returns the arguments of that verify.
func verifiedFile(tb testing.TB, n int, actor bool) []string {
	tb.Helper()
	runCmd(tb, "keygen", "-name", "example.com/audit")
	writeFileWith(tb, "audit.db", n, actor)
	if code, _, errOut := runCmd(tb, "checkpoint", "-file", "audit.db", "-skey", "example.com-audit.key", "-log", "example.com/audit", "-account", "acme", "-out", "saved.ckpt"); code != 0 {
		tb.Fatalf("checkpoint -file = %d: %s", code, errOut)
	}
	verify := []string{"verify", "-file", "audit.db", "-checkpoint", "saved.ckpt", "-vkey", "example.com-audit.pub", "-log", "example.com/audit", "-account", "acme"}
	if code, out, errOut := runCmd(tb, verify...); code != 0 || !strings.Contains(out, fmt.Sprintf("%d events verified", n)) {
		tb.Fatalf("verify -file = %d, %q %q", code, out, errOut)
	}
	return verify
}

// A bbolt file is verified read-only against a checkpoint signed for it,
// and an event deleted from it with bbolt is named.
func TestVerifyFile(t *testing.T) {
	t.Chdir(t.TempDir())
	verify := verifiedFile(t, 300, false)
	db, err := bolt.Open("audit.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("events")).Cursor()
		k, _ := c.First()
		for range 123 { // the events bucket is in time order: the 124th is sequence 123
			k, _ = c.Next()
		}
		return c.Bucket().Delete(k)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runCmd(t, verify...); code != 1 || !strings.Contains(errOut, "removed: sequence 123 missing") {
		t.Errorf("verify -file of a file with an event deleted = %d, %q", code, errOut)
	}
}

// A bbolt file whose events carry actor context verifies, and an actor
// field changed in the file is named.
func TestVerifyFileActor(t *testing.T) {
	t.Chdir(t.TempDir())
	verify := verifiedFile(t, 300, true)
	// Change the request ID of event 123 in the file, keeping its length:
	// the store decodes the event, and its leaf no longer matches.
	db, err := bolt.Open("audit.db", 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	err = db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("events"))
		c := b.Cursor()
		k, v := c.First()
		for range 123 {
			k, v = c.Next()
		}
		i := bytes.Index(v, []byte("req-123"))
		if i < 0 {
			return nil
		}
		nv := bytes.Clone(v)
		copy(nv[i:], "req-124")
		changed = true
		return b.Put(k, nv)
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !changed {
		t.Fatal("the request ID is not stored as text in the event's value, as FORMAT.md says it is")
	}
	if code, _, errOut := runCmd(t, verify...); code != 1 || !strings.Contains(errOut, "sequence 123") {
		t.Errorf("verify -file of a file with a request ID changed = %d, %q; want 1 naming sequence 123", code, errOut)
	}
}

// BenchmarkVerifyFile measures `auditevents verify -file` of a file of
// 1,000,000 events (set AUDITEVENTS_VERIFY_EVENTS for another size), the
// whole command: opening the file read-only, checking the signature,
// reading and hashing every event, the scan for strays. One op is one run.
func BenchmarkVerifyFile(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("AUDITEVENTS_VERIFY_EVENTS")); err == nil && v > 0 {
		n = v
	}
	b.Chdir(b.TempDir())
	runCmd(b, "keygen", "-name", "example.com/audit")
	writeFile(b, "audit.db", n)
	if code, _, errOut := runCmd(b, "checkpoint", "-file", "audit.db", "-skey", "example.com-audit.key", "-log", "example.com/audit", "-account", "acme", "-out", "saved.ckpt"); code != 0 {
		b.Fatalf("checkpoint: %s", errOut)
	}
	args := []string{"verify", "-file", "audit.db", "-checkpoint", "saved.ckpt", "-vkey", "example.com-audit.pub", "-log", "example.com/audit", "-account", "acme"}
	b.ResetTimer()
	for range b.N {
		if code, _, errOut := runCmd(b, args...); code != 0 {
			b.Fatal(errOut)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchmarkVerifyServer measures `auditevents verify -url` of a server of
// 100,000 events (set AUDITEVENTS_VERIFY_EVENTS for another size) served
// from memory in the same process, so the server's encoding is counted too.
func BenchmarkVerifyServer(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("AUDITEVENTS_VERIFY_EVENTS")); err == nil && v > 0 {
		n = v
	}
	b.Chdir(b.TempDir())
	runCmd(b, "keygen", "-name", "example.com/audit")
	url := serve(b, "example.com-audit.key", n, nil)
	args := []string{"verify", "-url", url, "-key", "k", "-vkey", "example.com-audit.pub", "-log", "example.com/audit", "-account", "acme"}
	b.ResetTimer()
	for range b.N {
		if code, _, errOut := runCmd(b, args...); code != 0 {
			b.Fatal(errOut)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}
