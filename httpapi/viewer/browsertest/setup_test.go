package browsertest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// The accounts of the test store and the API keys that read them.
const (
	mainAccount, mainKey    = "acme", "acme-key"
	otherAccount, otherKey  = "globex", "globex-key"
	mainEvents, otherEvents = 5000, 300
)

// newest is the time of the newest events of the store.
var newest = time.Date(2026, 1, 31, 17, 0, 0, 0, time.UTC)

// hostile are values that would run script or disguise text if a page
// wrote them as markup or without care; the store holds events with one of
// them in every text field.
var hostile = []string{
	`<script>window.pwned=1</script>`,
	`"><img src=x onerror="window.pwned=1">`,
	`javascript:window.pwned=1`,
	"invoice\u202Efdp.exe",
	`<svg onload="window.pwned=1"></svg>`,
	"\u2066admin\u2069 '\"; -- ${window.pwned=1} {{.}}",
}

// chromium returns the browser to drive: $CHROMIUM, or chromium on PATH,
// or /usr/bin/chromium. Without one the test skips, or fails under CI.
func chromium(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "no Chromium found (looked for $CHROMIUM, chromium on PATH and /usr/bin/chromium); " +
		"install Debian's chromium package (.ci/setup.d/chromium.sh does) to run the browser test"
	if os.Getenv("CI") != "" {
		tb.Fatal("CI is set but " + msg)
	}
	tb.Skip(msg)
	return ""
}

// seedStore writes the test's store to a new bbolt file: mainEvents events
// of mainAccount, the hostile ones among the newest, and otherEvents of
// otherAccount, over the 30 days before newest. It returns the file's path
// and every event of each account, newest first.
func seedStore(tb testing.TB) (path string, events map[string][]auditevents.AuditEvent) {
	tb.Helper()
	path = filepath.Join(tb.TempDir(), "audit.db")
	store, err := boltstore.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(16, 5000))
	rec := auditevents.NewRecorder(store, nil)
	var all []auditevents.AuditEvent
	add := func(account string, n int, users []string) {
		names := []string{"frontend", "backend", "edge-gateway", "payments", "k8s-cluster"}
		kinds := []auditevents.Kind{auditevents.KindConfiguration, auditevents.KindConfiguration, auditevents.KindRollout,
			auditevents.KindDestination, auditevents.KindSource, auditevents.KindProcessor, auditevents.KindUser, auditevents.KindAPIKey}
		actions := map[auditevents.Kind][]auditevents.Action{
			auditevents.KindRollout: {auditevents.ActionPending, auditevents.ActionStarted, auditevents.ActionPaused, auditevents.ActionResumed},
		}
		crud := []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionModified, auditevents.ActionDeleted}
		for range n {
			// More events on working days and hours, as in a real trail.
			var ts time.Time
			for {
				ts = newest.Add(-time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
				busy := ts.Weekday() != time.Saturday && ts.Weekday() != time.Sunday && ts.Hour() >= 7 && ts.Hour() < 19
				if busy || rng.IntN(4) == 0 {
					break
				}
			}
			kind := kinds[rng.IntN(len(kinds))]
			acts := actions[kind]
			if acts == nil {
				acts = crud
			}
			name := names[rng.IntN(len(names))]
			version := 1 + rng.IntN(12)
			e := auditevents.AuditEvent{
				Timestamp:    ts.Truncate(time.Microsecond),
				Account:      account,
				User:         users[rng.IntN(len(users))],
				Action:       acts[rng.IntN(len(acts))],
				ResourceKind: kind,
				ResourceName: fmt.Sprintf("%s-%d", strings.ToLower(string(kind)), rng.IntN(4)),
			}
			if kind == auditevents.KindConfiguration {
				e.ResourceName = name
			}
			// The actor's context on most events, from the event's
			// position, so the other fields' random sequence is as before.
			if i := len(all); i%5 != 0 {
				e.IPAddress = fmt.Sprintf("10.%d.0.%d", i%4, i%250)
				e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64)"
				e.RequestID = fmt.Sprintf("req-%d", i%40)
			}
			if kind != auditevents.KindUser && kind != auditevents.KindAPIKey {
				e.Configuration = fmt.Sprintf("%s:%d", name, version)
				e.Description = fmt.Sprintf("%s %s %s in %s version %d", kind, e.ResourceName, strings.ToLower(string(e.Action)), name, version)
			}
			all = append(all, e)
		}
	}
	add(mainAccount, mainEvents-len(hostile), []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com", "erin@example.com", "deploy-bot"})
	for i, h := range hostile {
		all = append(all, auditevents.AuditEvent{
			Timestamp:     newest.Add(-3*time.Hour - time.Duration(i)*time.Minute),
			Account:       mainAccount,
			User:          h,
			Action:        auditevents.Action(h),
			ResourceKind:  auditevents.KindConfiguration,
			ResourceName:  h,
			Configuration: h + ":1",
			Description:   "description " + h,
		})
	}
	add(otherAccount, otherEvents, []string{"olga@globex.test", "pat@globex.test"})
	for i := range all {
		if err := rec.Stamp(&all[i]); err != nil {
			tb.Fatal(err)
		}
	}
	ctx := context.Background()
	for i := 0; i < len(all); i += 1000 {
		if err := store.Append(ctx, all[i:min(i+1000, len(all))]...); err != nil {
			tb.Fatal(err)
		}
	}
	events = map[string][]auditevents.AuditEvent{}
	for _, account := range []string{mainAccount, otherAccount} {
		q := auditevents.Query{}.InAccount(account)
		events[account], err = auditevents.Collect(store.Query(ctx, q))
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := store.Close(); err != nil {
		tb.Fatal(err)
	}
	return path, events
}

// server is the example server, running as a process.
type server struct {
	base   string // http://127.0.0.1:port
	viewer string // the viewer's URL, as the server prints it
}

// startServer builds examples/server and runs it on a free port of
// 127.0.0.1 with the store at db, until the test ends.
func startServer(tb testing.TB, db string) *server {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "server")
	build := exec.Command("go", "build", "-o", bin, "github.com/auditevents/auditevents/examples/server")
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building the example server: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-db", db, "-seed", "0", "-retention", "0",
		"-keys", mainKey+"="+mainAccount+","+otherKey+"="+otherAccount)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	var logs strings.Builder
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			tb.Errorf("example server: %v\n%s", err, logs.String())
		}
	})
	// The first line names the viewer's URL.
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() {
		tb.Fatalf("the example server printed nothing: %v\n%s", sc.Err(), logs.String())
	}
	first := sc.Text()
	go io.Copy(io.Discard, stdout)
	m := regexp.MustCompile(`(http://127\.0\.0\.1:\d+)(/\S*)`).FindStringSubmatch(first)
	if m == nil {
		tb.Fatalf("the server's first line %q names no viewer URL", first)
	}
	return &server{base: m[1], viewer: m[1] + m[2]}
}

// get reads an endpoint of the API with a key, as a client of the API
// would, and returns the body.
func (s *server) get(tb testing.TB, path string, params url.Values, key string) []byte {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, s.base+path+"?"+params.Encode(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-Bindplane-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET %s?%s: %d %v\n%s", path, params.Encode(), resp.StatusCode, err, body)
	}
	return body
}

// ids returns the IDs of the events the list endpoint answers params with.
func (s *server) ids(tb testing.TB, params url.Values, key string) []string {
	tb.Helper()
	var events []auditevents.AuditEvent
	if err := json.Unmarshal(s.get(tb, "/v1/audit-events", params, key), &events); err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// shown is how the page writes a field: invisible and control characters
// by their code point, as viewer.js does.
func shown(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r <= 0x08, r >= 0x0b && r <= 0x1f, r >= 0x7f && r <= 0x9f, r == 0x061c,
			r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060 && r <= 0x2064,
			r >= 0x2066 && r <= 0x2069, r == 0xfeff:
			fmt.Fprintf(&b, "U+%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// artifacts returns the folder the screenshots and measurements go to.
func artifacts(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("VIEWER_ARTIFACTS")
	if dir == "" {
		dir = "artifacts"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return abs
}
