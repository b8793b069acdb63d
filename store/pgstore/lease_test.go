package pgstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
)

// openReplica opens a store on schema with a pool of its own, its
// connections named application_name, as a replica of a host would.
func openReplica(tb testing.TB, schema, name string) *Store {
	tb.Helper()
	dsn, _ := testServer(tb)
	s, err := Open(context.Background(), dsn+sep(dsn)+"application_name="+name, &Options{Schema: schema})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// killSessions ends every session of the replica named name, as the server
// ends them when the replica's process dies.
func killSessions(tb testing.TB, name string) {
	tb.Helper()
	_, admin := testServer(tb)
	var n int
	if err := admin.QueryRow(context.Background(), "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1", name).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n == 0 {
		tb.Fatalf("replica %s had no session to end", name)
	}
}

// One store value at a time holds a lease, against other pools and itself;
// it is free again once released, once its holder is closed, and once the
// holder's session ends, which RenewLease then reports.
func TestLeases(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	a, b := openReplica(t, schema, "lease-a-"+schema), openReplica(t, schema, "lease-b-"+schema)
	other := openReplica(t, freshSchema(t), "lease-c-"+schema)

	try := func(s *Store, name string, want bool) {
		t.Helper()
		if got, err := s.TryLease(ctx, name); got != want || err != nil {
			t.Fatalf("TryLease(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	renew := func(s *Store, name string, want bool) {
		t.Helper()
		if got, err := s.RenewLease(ctx, name); got != want || err != nil {
			t.Fatalf("RenewLease(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	try(a, "forward/hook", true)
	try(a, "forward/hook", false) // held by a itself
	try(b, "forward/hook", false)
	try(b, "forward/otlp", true)     // another name
	try(other, "forward/hook", true) // another table
	renew(a, "forward/hook", true)
	renew(b, "forward/hook", false)

	if err := a.ReleaseLease(ctx, "forward/hook"); err != nil {
		t.Fatal(err)
	}
	renew(a, "forward/hook", false)
	try(b, "forward/hook", true)

	b.Close() // lets its leases go
	if _, err := b.TryLease(ctx, "forward/hook"); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("TryLease after Close = %v, want ErrClosed", err)
	}
	try(a, "forward/hook", true)
	try(a, "forward/otlp", true)

	killSessions(t, "lease-a-"+schema)
	renew(a, "forward/hook", false)
	c := openReplica(t, schema, "lease-d-"+schema)
	try(c, "forward/otlp", true) // a's session ended: its lease is free
	try(a, "forward/hook", true) // and a takes leases again, on new sessions
}

// replicaSink is the sink of one replica: it records every event ID it is
// sent, and once killed, records the next batch and then hangs, as a host
// that died after the receiver got a batch and before it stored the
// position.
type replicaSink struct {
	mu     sync.Mutex
	ids    []string
	killed bool
	got    chan struct{} // receives after each batch
	hung   chan struct{} // closed when the batch after the kill arrived
}

func newReplicaSink() *replicaSink {
	// got holds one token, so that a batch sent while the test is not
	// listening is not missed.
	return &replicaSink{got: make(chan struct{}, 1), hung: make(chan struct{})}
}

func (k *replicaSink) Send(ctx context.Context, batch []auditevents.AuditEvent) error {
	k.mu.Lock()
	for _, e := range batch {
		k.ids = append(k.ids, e.ID)
	}
	killed := k.killed
	k.mu.Unlock()
	if killed {
		close(k.hung)
		<-ctx.Done()
		return ctx.Err()
	}
	select {
	case k.got <- struct{}{}:
	default:
	}
	return nil
}

func (k *replicaSink) received() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.ids)
}

// missing returns the IDs of want that none of the sinks received.
func missing(want []string, sinks ...*replicaSink) []string {
	got := map[string]bool{}
	for _, k := range sinks {
		for _, id := range k.received() {
			got[id] = true
		}
	}
	var out []string
	for _, id := range want {
		if !got[id] {
			out = append(out, id)
		}
	}
	return out
}

// Two replicas, each with its own pool and a forwarder of the same route:
// exactly one forwards while the other stands by; when the one forwarding
// dies (its sessions end, a batch sent but not acknowledged), the other
// takes over from the stored position, and every event arrives at least
// once. Synchronisation is by the forwarders' Wait hook and the sinks'
// channels, without sleeps.
func TestOneForwarderPerRoute(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	nameA, nameB := "replica-a-"+schema, "replica-b-"+schema
	storeA, storeB := openReplica(t, schema, nameA), openReplica(t, schema, nameB)
	sinkA, sinkB := newReplicaSink(), newReplicaSink()
	const batch = 10

	var appended []string
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	appendEvents := func(n int) {
		t.Helper()
		evs := events(uint64(len(appended)+100), start.Add(time.Duration(len(appended))*time.Minute), n)
		for i := range evs {
			evs[i].Account = []string{"acme", "globex"}[i%2]
		}
		if err := storeA.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			appended = append(appended, e.ID)
		}
	}

	// Replica A polls on a timer; replica B waits on the test's ticks and
	// says when it waits.
	fA, err := forward.New(storeA, []forward.Route{{Name: "hook", Sink: sinkA}}, &forward.Options{
		BatchSize: batch, PollInterval: time.Millisecond, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	bWaits, bTicks := make(chan time.Duration), make(chan struct{})
	fB, err := forward.New(storeB, []forward.Route{{Name: "hook", Sink: sinkB}}, &forward.Options{
		BatchSize: batch, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Wait: func(ctx context.Context, d time.Duration) error {
			select {
			case bWaits <- d:
			case <-ctx.Done():
				return ctx.Err()
			}
			select {
			case <-bTicks:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	watchdog := time.After(60 * time.Second) // a bound on a hung test, not a wait for a result
	until := func(what string, done func() bool, extra <-chan struct{}) {
		t.Helper()
		for !done() {
			select {
			case <-sinkA.got:
			case <-sinkB.got:
			case <-extra:
			case <-watchdog:
				t.Fatalf("%s did not happen within 60s", what)
			}
		}
	}

	appendEvents(40)
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stopA()
		stopB()
		wg.Wait()
	}()
	wg.Go(func() { fA.Run(ctxA) })
	until("A's first batch", func() bool { return len(sinkA.received()) > 0 }, nil)

	// B starts, finds the lease taken, and stands by.
	wg.Go(func() { fB.Run(ctxB) })
	select {
	case <-bWaits:
	case <-watchdog:
		t.Fatal("B did not wait for the lease")
	}
	until("A's delivery of the first events", func() bool { return len(missing(appended, sinkA)) == 0 }, nil)
	// B tries again while A holds the lease: still standing by.
	bTicks <- struct{}{}
	<-bWaits
	appendEvents(30)
	fA.Notify()
	until("A's delivery of more events", func() bool { return len(missing(appended, sinkA)) == 0 }, nil)
	if got := sinkB.received(); len(got) > 0 {
		t.Fatalf("B delivered %d events while A held the lease", len(got))
	}

	// A dies: it sends a batch, and its sessions end before the position
	// is stored.
	sinkA.mu.Lock()
	sinkA.killed = true
	sinkA.mu.Unlock()
	appendEvents(25)
	fA.Notify()
	until("A's last batch", func() bool {
		select {
		case <-sinkA.hung:
			return true
		default:
			return false
		}
	}, sinkA.hung)
	killSessions(t, nameA)
	lastOfA := sinkA.received()

	// B takes the lease at its next try and forwards the rest.
	ticks := 0
	for len(missing(appended, sinkA, sinkB)) > 0 {
		select {
		case bTicks <- struct{}{}:
			ticks++
		case <-bWaits:
		case <-sinkB.got:
		case <-watchdog:
			t.Fatalf("B did not take over within 60s: %d events missing; B: %+v", len(missing(appended, sinkA, sinkB)), fB.Metrics())
		}
	}
	if len(sinkA.received()) != len(lastOfA) {
		t.Errorf("A delivered after it died")
	}
	// At least once: the batch A sent last came again from B, and B sent
	// nothing A had stored the position of.
	gotB := map[string]bool{}
	for _, id := range sinkB.received() {
		gotB[id] = true
	}
	twice := 0
	for _, id := range lastOfA {
		if gotB[id] {
			twice++
		}
	}
	if twice == 0 || twice > batch {
		t.Errorf("%d events came from both replicas, want the one batch A did not acknowledge (1 to %d)", twice, batch)
	}
	t.Logf("%d events; A delivered %d, B %d after %d ticks, %d twice", len(appended), len(lastOfA), len(sinkB.received()), ticks, twice)
}

// A replica that stops cleanly (its Run cancelled, as on a rolling deploy)
// stores its last position and lets the lease go: the other takes over at
// its next try, and no event arrives twice.
func TestForwarderHandsOverOnStop(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	storeA, storeB := openReplica(t, schema, "stop-a-"+schema), openReplica(t, schema, "stop-b-"+schema)
	sinkA, sinkB := newReplicaSink(), newReplicaSink()
	var appended []string
	appendEvents := func(seed uint64, n int) {
		t.Helper()
		evs := events(seed, time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(seed)*time.Hour), n)
		if err := storeB.Append(ctx, evs...); err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			appended = append(appended, e.ID)
		}
	}
	bWaits, bTicks := make(chan struct{}), make(chan struct{})
	waitB := func(ctx context.Context, d time.Duration) error {
		select {
		case bWaits <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case <-bTicks:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fA, err := forward.New(storeA, []forward.Route{{Name: "hook", Sink: sinkA}}, &forward.Options{BatchSize: 7, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	fB, err := forward.New(storeB, []forward.Route{{Name: "hook", Sink: sinkB}}, &forward.Options{BatchSize: 7, Wait: waitB})
	if err != nil {
		t.Fatal(err)
	}
	watchdog := time.After(60 * time.Second) // a bound on a hung test, not a wait for a result
	appendEvents(1, 30)
	ctxA, stopA := context.WithCancel(ctx)
	ctxB, stopB := context.WithCancel(ctx)
	doneA := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		stopA()
		stopB()
		wg.Wait()
	}()
	go func() { defer close(doneA); fA.Run(ctxA) }()
	for len(missing(appended, sinkA)) > 0 {
		select {
		case <-sinkA.got:
		case <-watchdog:
			t.Fatal("A did not deliver within 60s")
		}
	}
	wg.Go(func() { fB.Run(ctxB) })
	<-bWaits // B stands by
	stopA()
	<-doneA
	appendEvents(2, 30)
	for len(missing(appended, sinkA, sinkB)) > 0 {
		select {
		case bTicks <- struct{}{}:
		case <-bWaits:
		case <-sinkB.got:
		case <-watchdog:
			t.Fatalf("B did not take over within 60s; B: %+v", fB.Metrics())
		}
	}
	seen := map[string]int{}
	for _, id := range append(sinkA.received(), sinkB.received()...) {
		if seen[id]++; seen[id] == 2 {
			t.Errorf("event %s arrived twice after a clean stop", id)
		}
	}
	if len(sinkA.received()) != 30 || len(sinkB.received()) != 30 {
		t.Errorf("A delivered %d and B %d events, want 30 each", len(sinkA.received()), len(sinkB.received()))
	}
}

// Close while a lease is being renewed is safe: the renewal reports the
// lease gone or the store closed, and the lease is free.
func TestLeaseCloseWhileRenewing(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	a, b := openReplica(t, schema, "renew-a-"+schema), openReplica(t, schema, "renew-b-"+schema)
	if ok, err := a.TryLease(ctx, "l"); !ok || err != nil {
		t.Fatalf("TryLease = %v, %v", ok, err)
	}
	done := make(chan error)
	renewed := make(chan struct{}, 1)
	go func() {
		for {
			ok, err := a.RenewLease(ctx, "l")
			if !ok || err != nil {
				done <- err
				return
			}
			select {
			case renewed <- struct{}{}:
			default:
			}
		}
	}()
	<-renewed
	a.Close()
	if err := <-done; err != nil && !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("RenewLease during Close = %v, want false or ErrClosed", err)
	}
	if ok, err := b.TryLease(ctx, "l"); !ok || err != nil {
		t.Errorf("TryLease after the holder closed = %v, %v; want true", ok, err)
	}
}
