package pgstore

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// restartEnv names the environment variable that holds a shell command
// restarting the test server; .ci/setup.d/postgres.sh sets it for the
// server it starts.
const restartEnv = "AUDITEVENTS_PG_RESTART"

// restartServer restarts the test server, or skips the test when there is
// no command to do so (in CI it fails instead).
func restartServer(tb testing.TB) {
	tb.Helper()
	cmd := os.Getenv(restartEnv)
	if cmd == "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s is not set: .ci/setup.d/postgres.sh sets it", restartEnv)
		}
		tb.Skipf("skipping: set %s to a shell command that restarts the server of %s (.ci/setup.d/postgres.sh does)", restartEnv, dsnEnv)
	}
	if out, err := exec.Command("bash", "-c", cmd).CombinedOutput(); err != nil {
		tb.Fatalf("restart the server with %q: %v\n%s", cmd, err, out)
	}
	_, admin := testServer(tb)
	admin.Reset() // its connections ended with the server
}

// TestServerRestart restarts the server in the middle of a query, between
// its pages, and just before an append: both go on, on new connections,
// although every connection of the pool ended with the server.
func TestServerRestart(t *testing.T) {
	testServer(t)
	if os.Getenv(restartEnv) == "" {
		restartServer(t) // skips, or fails in CI
	}
	s := openStore(t, Options{PageSize: 100})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all := events(21, base, 1000)
	if err := s.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, err := range s.Query(ctx, auditevents.Query{}) {
		if err != nil {
			t.Fatalf("the query across the restart failed after %d events: %v", seen, err)
		}
		seen++
		if seen == 150 {
			restartServer(t)
		}
	}
	if seen != len(all) {
		t.Errorf("the query across the restart returned %d events, want %d", seen, len(all))
	}

	restartServer(t)
	if err := s.Append(ctx, events(22, base.Add(time.Hour), 10)...); err != nil {
		t.Errorf("Append after a restart: %v", err)
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil {
		t.Errorf("Query after a restart: %v", err)
	} else if len(got) != len(all)+10 {
		t.Errorf("Query after a restart: %d events, want %d", len(got), len(all)+10)
	}
}
