package boltstore_test

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// The crash test runs this test binary again as a child process that
// appends to a store and prints each acknowledged event, and kills it with
// SIGKILL while it writes. These variables configure the child.
const (
	crashEnvPath   = "AUDITEVENTS_CRASH_CHILD_PATH"
	crashEnvBase   = "AUDITEVENTS_CRASH_CHILD_BASE"
	crashEnvNoSync = "AUDITEVENTS_CRASH_CHILD_NOSYNC"
)

// crashEvent returns the event the child appends with the given ID and
// timestamp; the parent rebuilds it from the same two values to check that
// what it reads back is intact. Two events in three have actor fields, so
// that the actor indexes are written when the child is killed.
func crashEvent(id string, ts time.Time) auditevents.AuditEvent {
	n := int(id[25]) // varies with the ID
	e := auditevents.AuditEvent{
		ID:            id,
		Timestamp:     ts,
		Account:       fmt.Sprintf("account-%d", n%3),
		User:          fmt.Sprintf("user-%d@example.com", n%7),
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "resource-" + id[20:],
		Configuration: fmt.Sprintf("config-%d:%d", n%5, n%3),
		Description:   "crash test event " + id,
	}
	if n%3 != 0 {
		e.IPAddress = fmt.Sprintf("192.0.2.%d", n%11)
		e.UserAgent = fmt.Sprintf("client/%d", n%4)
		e.RequestID = "req-" + id[18:]
	}
	return e
}

// TestCrashChild is the child process of TestCrash; it does nothing unless
// run by it. It appends from several goroutines, in batches of 1 to 20
// events, and prints "ID MICROSECONDS" for each event once Append has
// returned nil for it, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnvPath)
	if path == "" {
		t.Skip("run by TestCrash")
	}
	base, err := strconv.ParseInt(os.Getenv(crashEnvBase), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", crashEnvBase, err)
	}
	opts := boltstore.Options{NoSync: os.Getenv(crashEnvNoSync) != ""}
	boltstore.SetSealAfter(&opts, 100) // seal within each round, often
	s, err := boltstore.Open(path, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var (
		clock atomic.Int64 // microseconds after base
		out   sync.Mutex
		wg    sync.WaitGroup
	)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(base), uint64(g)))
			for {
				batch := make([]auditevents.AuditEvent, 1+rng.IntN(20))
				for i := range batch {
					ts := time.UnixMicro(base + clock.Add(int64(10*time.Minute/time.Microsecond))).UTC()
					id := ulid.MustNew(ulid.Timestamp(ts), crand.Reader).String()
					batch[i] = crashEvent(id, ts)
				}
				if err := s.Append(context.Background(), batch...); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				var b strings.Builder
				for _, e := range batch {
					fmt.Fprintf(&b, "%s %d\n", e.ID, e.Timestamp.UnixMicro())
				}
				out.Lock()
				os.Stdout.WriteString(b.String())
				out.Unlock()
			}
		})
	}
	wg.Wait()
}

// TestCrash kills a process that appends, at random moments, several times
// over, and checks after each kill that every event the process saw
// acknowledged is stored intact, that the indexes agree with the events and
// that bbolt's consistency check passes. Rounds alternate between durable
// and NoSync appends: a killed process loses no acknowledged event in
// either mode. AUDITEVENTS_CRASH_ROUNDS sets the number of rounds
// (default 6).
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	rounds := 6
	if n, err := strconv.Atoi(os.Getenv("AUDITEVENTS_CRASH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	path := filepath.Join(t.TempDir(), "crash.db")
	rng := rand.New(rand.NewPCG(uint64(rounds), 1))
	acked := make(map[string]int64) // ID -> timestamp in microseconds
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	for round := range rounds {
		noSync := round%2 == 1
		want := 1 + rng.IntN(600) // acknowledgements to read before the kill
		t.Run(fmt.Sprintf("round%d/nosync=%v/after%dacks", round, noSync, want), func(t *testing.T) {
			// Rounds overlap in time: later rounds add events older than
			// the sealed time, which go straight to the sealed class.
			roundBase := base + int64(round)*int64(24*time.Hour/time.Microsecond)
			got := runChild(t, path, roundBase, noSync, want)
			for id, us := range got {
				acked[id] = us
			}
			verify(t, path, acked)
		})
	}
}

// runChild starts the child, reads want acknowledgements, kills the child
// with SIGKILL and returns every acknowledgement it printed.
func runChild(tb testing.TB, path string, base int64, noSync bool, want int) map[string]int64 {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvBase+"="+strconv.FormatInt(base, 10))
	if noSync {
		cmd.Env = append(cmd.Env, crashEnvNoSync+"=1")
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	acks := make(map[string]int64)
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		id, us, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(us, 10, 64)
		if !ok || err != nil || len(id) != 26 {
			continue // a line cut short by the kill
		}
		acks[id] = n
		if !killed && len(acks) >= want {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				tb.Fatal(err)
			}
			killed = true // keep reading: lines printed before the kill count
		}
	}
	err = cmd.Wait()
	if !killed {
		tb.Fatalf("child exited before %d acknowledgements (%d): %v\n%s", want, len(acks), err, stderr.String())
	}
	return acks
}

// verify opens the store at path and checks that it holds every acked event
// intact and passes Check.
func verify(tb testing.TB, path string, acked map[string]int64) {
	tb.Helper()
	s, err := boltstore.Open(path, nil)
	if err != nil {
		tb.Fatalf("reopening after the kill: %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		tb.Fatalf("Check after the kill: %v", err)
	}
	verifyLogs(tb, s, acked)
	stored := make(map[string]auditevents.AuditEvent)
	for e, err := range s.Query(ctx, auditevents.Query{}) {
		if err != nil {
			tb.Fatalf("Query after the kill: %v", err)
		}
		stored[e.ID] = e
	}
	for id, us := range acked {
		got, ok := stored[id]
		if !ok {
			tb.Fatalf("acknowledged event %s is missing after the kill (%d stored, %d acknowledged)", id, len(stored), len(acked))
		}
		if want := crashEvent(id, time.UnixMicro(us).UTC()); !got.Equal(&want) {
			tb.Fatalf("event %s after the kill:\n got %+v\nwant %+v", id, got, want)
		}
	}
	// The indexes agree with the events: each filter finds what a scan finds.
	for _, q := range []auditevents.Query{
		{User: "user-3@example.com"},
		{Configuration: "config-2"},
		{Configuration: "config-2:1"},
		{Account: ptr("account-1")},
		{IPAddress: netip.MustParsePrefix("192.0.2.5/32")},
		{IPAddress: netip.MustParsePrefix("192.0.2.0/28")},
	} {
		var want []string
		for _, e := range stored {
			if q.Matches(&e) {
				want = append(want, e.ID)
			}
		}
		got, err := auditevents.Collect(s.Query(ctx, q))
		if err != nil {
			tb.Fatal(err)
		}
		if len(got) != len(want) {
			tb.Fatalf("query %+v after the kill: %d events, want %d", q, len(got), len(want))
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestOpenLockedByAnotherProcess opens a store that a child process holds:
// Open fails with ErrLocked within the timeout, and succeeds once the child
// is gone, even killed without closing the file.
func TestOpenLockedByAnotherProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "locked.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnvPath+"="+path, crashEnvBase+"="+strconv.FormatInt(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro(), 10))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() { // the child has the store open once it acknowledges
		t.Fatalf("the child acknowledged nothing: %v", sc.Err())
	}

	s, err := boltstore.Open(path, &boltstore.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("Open of a file another process holds succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("got %v, want an error wrapping ErrLocked", err)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
	}
	cmd.Wait()
	s, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open after the holder died: %v", err)
	}
	defer s.Close()
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}
