package forward_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/store/boltstore"
)

// The environment of the host process that TestForwarderSurvivesKill9
// starts and kills: the test binary again, running crashHost.
const (
	envCrashHost = "FORWARD_TEST_CRASH_HOST" // "append" or "forward"
	envCrashDB   = "FORWARD_TEST_CRASH_DB"
	envCrashURL  = "FORWARD_TEST_CRASH_URL"
)

// crashBatch is the batch size of the host's forwarder: after each kill, at
// most one batch is sent again.
const crashBatch = 50

func TestMain(m *testing.M) {
	if mode := os.Getenv(envCrashHost); mode != "" {
		if err := crashHost(mode, os.Getenv(envCrashDB), os.Getenv(envCrashURL)); err != nil {
			fmt.Fprintln(os.Stderr, "crash host:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashHost is a host that forwards the events of a bbolt store to a webhook,
// keeping its position in the store's file, and, in mode "append", records events meanwhile, printing the IDs of each
// batch once the store has acknowledged it. It runs until it is killed.
func crashHost(mode, db, url string) error {
	bolt, err := boltstore.Open(db, nil)
	if err != nil {
		return err
	}
	hook, err := forward.NewWebhook(url, &forward.WebhookOptions{Secret: crashSecret})
	if err != nil {
		return err
	}
	f, err := forward.New(bolt, []forward.Route{{Name: "hook", Sink: hook}}, &forward.Options{
		BatchSize: crashBatch, PollInterval: 5 * time.Millisecond,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if mode == "append" {
		go func() {
			out := bufio.NewWriter(os.Stdout)
			for i := 0; ; i++ {
				batch := make([]auditevents.AuditEvent, 10)
				for j := range batch {
					batch[j] = auditevents.AuditEvent{
						ID:        ulid.Make().String(),
						Timestamp: time.Now(), Account: []string{"acme", "globex"}[i%2],
						User: "alice", Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration,
					}
				}
				if err := bolt.Append(ctx, batch...); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(1)
				}
				for _, e := range batch {
					fmt.Fprintln(out, e.ID)
				}
				out.Flush()
			}
		}()
	}
	return f.Run(ctx)
}

var crashSecret = []byte("0123456789abcdef0123456789abcdef")

// crashReceiver is the webhook receiver of the test: it authenticates each
// request, counts every event ID it receives, and fails one request in five
// with a 503, so the host retries too.
type crashReceiver struct {
	mu       sync.Mutex
	requests int
	received map[string]int
	notify   chan struct{} // receives after each acknowledged request, when someone listens
}

func (c *crashReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	if err := forward.VerifySignature(crashSecret, r.Header.Get(forward.SignatureHeader), body, time.Now(), 0); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	c.mu.Lock()
	c.requests++
	if c.requests%5 == 0 {
		c.mu.Unlock()
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	for line := range strings.Lines(string(body)) {
		var e auditevents.AuditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			c.mu.Unlock()
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.received[e.ID]++
	}
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// missing returns the IDs of want not received yet, and how many events were
// received more than once (counting each extra copy).
func (c *crashReceiver) missing(want []string) (missing []string, extra int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range want {
		if c.received[id] == 0 {
			missing = append(missing, id)
		}
	}
	for _, n := range c.received {
		extra += n - 1
	}
	return missing, extra
}

// A host killed with SIGKILL at arbitrary moments, while it records events
// and forwards them to a webhook receiver, loses none: once a host runs
// again, every event the store acknowledged arrives, and the copies sent
// twice are at most one batch per kill.
func TestForwarderSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	rcv := &crashReceiver{received: map[string]int{}, notify: make(chan struct{})}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	db := filepath.Join(t.TempDir(), "audit.db")

	var acked []string // IDs the store acknowledged, as the hosts printed them
	kills := 0
	run := func(mode string, until func() bool) {
		t.Helper()
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envCrashHost+"="+mode, envCrashDB+"="+db, envCrashURL+"="+srv.URL)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan []string)
		go func() {
			var ids []string
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				ids = append(ids, sc.Text())
			}
			lines <- ids
		}()
		watchdog := time.After(60 * time.Second) // a bound on a hung host, not a wait for a result
		for !until() {
			select {
			case <-rcv.notify:
			case <-watchdog:
				cmd.Process.Kill()
				t.Fatalf("host in mode %s did not get there in 60s", mode)
			}
		}
		if err := cmd.Process.Kill(); err != nil { // SIGKILL
			t.Fatal(err)
		}
		cmd.Wait()
		kills++
		acked = append(acked, <-lines...)
	}

	// Kill the recording host three times, each after some more requests
	// reached the receiver, mid-stream.
	for round := 1; round <= 3; round++ {
		target := 0
		rcv.mu.Lock()
		target = rcv.requests + 7
		rcv.mu.Unlock()
		run("append", func() bool {
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			return rcv.requests >= target
		})
	}
	if len(acked) == 0 {
		t.Fatal("the hosts recorded no event")
	}
	// A host that only forwards delivers the rest.
	run("forward", func() bool {
		m, _ := rcv.missing(acked)
		return len(m) == 0
	})
	missing, extra := rcv.missing(acked)
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged events never arrived, such as %s", len(missing), len(acked), missing[0])
	}
	if extra > kills*crashBatch {
		t.Errorf("%d copies sent twice after %d kills, want at most one batch (%d) per kill", extra, kills, crashBatch)
	}
	t.Logf("%d events recorded and delivered across %d kills; %d sent twice", len(acked), kills, extra)
}
