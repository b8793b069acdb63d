package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

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
	// crashEnvUpgrade makes the child open the store once, which upgrades
	// an older file, instead of appending.
	crashEnvUpgrade = "AUDITEVENTS_CRASH_CHILD_UPGRADE"
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
	if os.Getenv(crashEnvUpgrade) != "" {
		fmt.Println("opening")
		s, err := boltstore.Open(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		fmt.Println("upgraded")
		return
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

// TestCrashDuringUpgrade kills a process while its Open upgrades a file of
// format 6, whose log keys put the kind before the number and whose
// indexes keep their hot entries in their own buckets, or of format 7,
// whose hot bucket keeps an entry per index and event, at moments spread
// over the time an upgrade takes, and checks after each kill that the file
// holds the old format or the current one, and that the next Open upgrades
// it if need be: every event intact, the indexes agreeing with the events,
// each account's tree the one it had before (a checkpoint made before the
// kill verifies against it) and Check passing.
func TestCrashDuringUpgrade(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	dir := t.TempDir()
	current := filepath.Join(dir, "current.db")
	s, err := boltstore.Open(current, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	acked := make(map[string]int64)
	base := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	batch := make([]auditevents.AuditEvent, 0, 1000)
	for i := range 30_000 {
		ts := time.UnixMicro(base + int64(i)*1000).UTC()
		id := ulid.MustNew(ulid.Timestamp(ts), crand.Reader).String()
		batch = append(batch, crashEvent(id, ts))
		acked[id] = ts.UnixMicro()
		if len(batch) == cap(batch) {
			if err := s.Append(ctx, batch...); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	clear(crashCheckpoints.saved)
	verify(t, current, acked) // and keep each account's checkpoint, for after the kills

	for _, version := range []int{6, 7} {
		pristine := filepath.Join(dir, fmt.Sprintf("format%d.db", version))
		copyFile(t, current, pristine)
		toFormat(t, pristine, version)
		var took time.Duration // of a whole upgrade, from the child's Open
		for round, at := range []float64{-1, 0, 0.25, 0.5, 0.75, 0.9} {
			t.Run(fmt.Sprintf("format%d/round%d", version, round), func(t *testing.T) {
				path := filepath.Join(dir, fmt.Sprintf("format%d-round%d.db", version, round))
				copyFile(t, pristine, path)
				if at < 0 {
					took = runUpgradeChild(t, path, -1)
					t.Logf("an upgrade took %v", took)
				} else {
					runUpgradeChild(t, path, time.Duration(at*float64(took)))
				}
				t.Logf("format %d after the kill", formatOf(t, path))
				verify(t, path, acked)
			})
		}
	}
}

// runUpgradeChild starts the child that opens the store at path, and kills
// it with SIGKILL kill after it said it opens, or lets it finish when kill
// is negative. It returns how long the child took from then on.
func runUpgradeChild(tb testing.TB, path string, kill time.Duration) time.Duration {
	tb.Helper()
	cmd, stdout, stderr := startChild(tb, crashEnvPath+"="+path, crashEnvUpgrade+"=1")
	var start time.Time
	upgraded := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		switch sc.Text() {
		case "opening":
			start = time.Now()
			if kill >= 0 {
				time.AfterFunc(kill, func() { cmd.Process.Signal(syscall.SIGKILL) })
			}
		case "upgraded":
			upgraded = true
		}
	}
	took := time.Since(start)
	err := cmd.Wait()
	if kill < 0 && (err != nil || !upgraded) {
		tb.Fatalf("the upgrading child failed: %v\n%s", err, stderr.String())
	}
	if start.IsZero() {
		tb.Fatalf("the child never opened the store: %v\n%s", err, stderr.String())
	}
	return took
}

// toFormat turns the store file at path back into format 6 or 7, the exact
// inverse of the upgrade: the hot classes laid out as that format did
// (FORMAT.md, "Upgrading versions 2 to 7"), and for format 6 the log keys
// as the account, 0, the kind and, but for the size, the number.
func toFormat(tb testing.TB, path string, version int) {
	tb.Helper()
	tamper(tb, path, func(tx *bolt.Tx) error {
		if err := boltstore.HotToFormat(tx, version); err != nil {
			return err
		}
		if version == 7 {
			return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte{0, 0, 0, 7})
		}
		b := tx.Bucket([]byte("log"))
		type kv struct{ k, v []byte }
		var moved []kv
		err := b.ForEach(func(k, v []byte) error {
			i := bytes.IndexByte(k, 0)
			if i < 0 || len(k) < i+10 {
				return fmt.Errorf("log key %x is not of the current format", k)
			}
			old := append(slices.Clone(k[:i+1]), k[i+9])
			switch k[i+9] {
			case 'n':
				old = append(old, k[i+10:]...)
			case 'l', 'q':
				old = append(old, k[i+1:i+9]...)
			}
			moved = append(moved, kv{slices.Clone(k), old}, kv{nil, slices.Clone(v)})
			return nil
		})
		if err != nil {
			return err
		}
		for i := 0; i < len(moved); i += 2 {
			if err := b.Delete(moved[i].k); err != nil {
				return err
			}
		}
		for i := 0; i < len(moved); i += 2 {
			if err := b.Put(moved[i].v, moved[i+1].v); err != nil {
				return err
			}
		}
		return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte{0, 0, 0, 6})
	})
}

// startChild starts TestCrashChild in a child process with the given
// environment variables added, and returns it with its stdout and the
// builder that collects its stderr.
func startChild(tb testing.TB, env ...string) (*exec.Cmd, io.Reader, *strings.Builder) {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return cmd, stdout, stderr
}

// runChild starts the child, reads want acknowledgements, kills the child
// with SIGKILL and returns every acknowledgement it printed.
func runChild(tb testing.TB, path string, base int64, noSync bool, want int) map[string]int64 {
	tb.Helper()
	env := []string{crashEnvPath + "=" + path, crashEnvBase + "=" + strconv.FormatInt(base, 10)}
	if noSync {
		env = append(env, crashEnvNoSync+"=1")
	}
	cmd, stdout, stderr := startChild(tb, env...)
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
	err := cmd.Wait()
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
