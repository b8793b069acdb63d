package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/store/boltstore"
)

// receiver is a webhook receiver as a host writes one: it checks each
// request's signature with forward.VerifySignature before it reads the
// events, and keeps their IDs.
type receiver struct {
	secret []byte
	mu     sync.Mutex
	ids    []string
	bad    int
	got    chan struct{} // receives after each accepted request
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := forward.VerifySignature(rc.secret, r.Header.Get(forward.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		rc.mu.Lock()
		rc.bad++
		rc.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ids []string
	for line := range bytes.Lines(body) {
		var e auditevents.AuditEvent
		if err := json.Unmarshal(line, &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ids = append(ids, e.ID)
	}
	rc.mu.Lock()
	rc.ids = append(rc.ids, ids...)
	rc.mu.Unlock()
	rc.got <- struct{}{}
}

// waitFor waits until the receiver holds n events and returns their IDs.
func (rc *receiver) waitFor(t *testing.T, n int) []string {
	t.Helper()
	for {
		rc.mu.Lock()
		ids := append([]string(nil), rc.ids...)
		rc.mu.Unlock()
		if len(ids) >= n {
			return ids
		}
		<-rc.got
	}
}

// runServer runs the example with args until the returned function is
// called, which returns run's error; it returns the base URL.
func runServer(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	var cmds []string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "curl ") {
			cmds = append(cmds, line)
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if len(cmds) == 0 {
		cancel()
		t.Fatalf("the server printed no command: %v", <-done)
	}
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return baseURL(t, cmds), stop
}

// TestForward checks -forward: the seeded events and the ones recorded
// later reach a webhook receiver, signed with the secret from the
// environment, and a restart resumes from the positions in the bbolt file
// (every account's at its tree size after a clean stop, but for the last
// batch): the events acknowledged before the last batch are not sent again. (The last batch
// may be: the stop can land between the receiver's reading of it and its
// acknowledgement reaching the forwarder, and receivers de-duplicate.)
func TestForward(t *testing.T) {
	secret := "a shared secret of the example's webhook"
	rc := &receiver{secret: []byte(secret), got: make(chan struct{}, 100)}
	hook := httptest.NewServer(rc)
	t.Cleanup(hook.Close)
	t.Setenv(secretEnv, secret)
	db := filepath.Join(t.TempDir(), "audit.db")

	base, stop := runServer(t, "-db", db, "-seed", "40", "-forward", hook.URL)
	rc.waitFor(t, 40)
	req, _ := http.NewRequest(http.MethodPut, base+"/v1/configurations/forwarded", nil)
	req.Header.Set("X-Bindplane-Api-Key", "demo-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v %v", res, err)
	}
	res.Body.Close()
	last := rc.waitFor(t, 41)[40]
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	caughtUp(t, db, "webhook", "demo", 1) // the PUT's event may be unacknowledged

	// Restarted, the forwarder sends only what it had not sent.
	base, stop = runServer(t, "-db", db, "-seed", "0", "-forward", hook.URL)
	req, _ = http.NewRequest(http.MethodDelete, base+"/v1/configurations/forwarded", nil)
	req.Header.Set("X-Bindplane-Api-Key", "demo-key")
	if res, err = http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %v %v", res, err)
	}
	res.Body.Close()
	deleted := rc.waitFor(t, 42)
	for deleted[len(deleted)-1] == last { // the last batch again; the DELETE's comes next
		deleted = rc.waitFor(t, len(deleted)+1)
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	seen := make(map[string]bool)
	for _, id := range deleted {
		if seen[id] && id != last {
			t.Errorf("event %s delivered twice across a clean restart", id)
		}
		seen[id] = true
	}
	if len(seen) != 42 || rc.bad != 0 {
		t.Errorf("received %d distinct events and %d badly signed requests, want 42 and 0", len(seen), rc.bad)
	}
}

// TestTailEndsOnShutdown checks the live tail of the example: a recorded
// event reaches a tail, and a tail left open does not hold up shutdown.
func TestTailEndsOnShutdown(t *testing.T) {
	base, stop := runServer(t, "-db", filepath.Join(t.TempDir(), "audit.db"), "-seed", "0")
	req, _ := http.NewRequest(http.MethodGet, base+"/v1/audit-events/tail", nil)
	req.Header.Set("X-Bindplane-Api-Key", "demo-key")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("tail: %v %v", res, err)
	}
	defer res.Body.Close()
	put, _ := http.NewRequest(http.MethodPut, base+"/v1/configurations/tailed", nil)
	put.Header.Set("X-Bindplane-Api-Key", "demo-key")
	if r, err := http.DefaultClient.Do(put); err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %v %v", r, err)
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "data: ") {
	}
	if !strings.Contains(sc.Text(), `"resourceName":"tailed"`) {
		t.Fatalf("tail: got %q, want the recorded event", sc.Text())
	}
	if err := stop(); err != nil {
		t.Fatalf("run with a tail open: %v", err)
	}
	if _, err := io.ReadAll(res.Body); err != nil {
		t.Errorf("the tail ended with %v, want a clean end", err)
	}
}

// caughtUp fails the test unless the forwarder's positions of route, in
// the bbolt file at db, are at every account's tree size, except that the
// position of account last may stop short of it by the lastBatch events
// that the stop may have left unacknowledged.
func caughtUp(t *testing.T, db, route, last string, lastBatch int64) {
	t.Helper()
	ctx := context.Background()
	s, err := boltstore.Open(db, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accounts := 0
	for account, err := range s.Accounts(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		accounts++
		pos, err := s.Position(ctx, route, account)
		if err != nil {
			t.Fatal(err)
		}
		size, err := s.TreeSize(ctx, account)
		if err != nil {
			t.Fatal(err)
		}
		if pos != size && (account != last || pos != size-lastBatch) {
			t.Errorf("account %q: the forwarder's position is %d, want the tree size %d", account, pos, size)
		}
	}
	if accounts == 0 {
		t.Error("the store has no account")
	}
}
