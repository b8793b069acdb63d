package forward_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/store/memstore"
)

// leaseInterval is the lease interval of the tests' forwarders, distinct
// from the poll interval and every backoff.
const leaseInterval = 4321 * time.Hour

// leasedStore is a memstore with leases, held in a table that stands for
// the shared database: holder names who holds each lease.
type leasedStore struct {
	*memstore.Store
	mu       sync.Mutex
	holder   map[string]string // lease -> holder
	me       string
	tryErr   error
	released []string
}

func (s *leasedStore) TryLease(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tryErr != nil {
		err := s.tryErr
		s.tryErr = nil
		return false, err
	}
	if s.holder[name] != "" {
		return false, nil
	}
	s.holder[name] = s.me
	return true, nil
}

func (s *leasedStore) RenewLease(ctx context.Context, name string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.holder[name] == s.me, nil
}

func (s *leasedStore) ReleaseLease(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holder[name] == s.me {
		delete(s.holder, name)
	}
	s.released = append(s.released, name)
	return nil
}

// setHolder gives the lease to who ("" frees it), as another replica
// taking it, or the server ending a session, does.
func (s *leasedStore) setHolder(name, who string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holder[name] = who
}

// standbyClock is a clock whose lease waits say so on standby and wait for
// a tick.
type standbyClock struct {
	*clock
	standby chan struct{}
	tick    chan struct{}
}

func (c *standbyClock) wait(ctx context.Context, d time.Duration) error {
	if d != leaseInterval {
		return c.clock.wait(ctx, d)
	}
	select {
	case c.standby <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-c.tick:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func await(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second): // a watchdog, not a wait for a result
		tb.Fatalf("%s did not happen", what)
	}
}

// With a store that is a Leaser, a route forwards only while it holds its
// lease: on standby while another holds it, forwarding once it takes it,
// on standby again once it lost it, and it lets the lease go when it stops.
func TestForwarderHoldsItsLease(t *testing.T) {
	store := &leasedStore{Store: memstore.New(), holder: map[string]string{}, me: "us"}
	const lease = forward.LeasePrefix + "hook"
	store.setHolder(lease, "other replica")
	events := appendEvents(t, store.Store, "acme", 20)
	c := &standbyClock{clock: newClock(), standby: make(chan struct{}), tick: make(chan struct{})}
	k := &sink{}
	var errs []error
	var errMu sync.Mutex
	f, err := forward.New(store, []forward.Route{{Name: "hook", Sink: k}}, &forward.Options{
		BatchSize: 8, PollInterval: pollInterval, LeaseInterval: leaseInterval, Wait: c.wait,
		Rand: func() float64 { return 0.5 },
		OnError: func(route string, err error) {
			errMu.Lock()
			errs = append(errs, err)
			errMu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, f)

	await(t, c.standby, "standby")
	if m := f.Metrics()[0]; !m.Standby || m.Delivered != 0 {
		t.Fatalf("metrics while another holds the lease: %+v, want on standby, nothing delivered", m)
	}
	if len(k.delivered()) != 0 {
		t.Fatal("a route on standby delivered")
	}

	// The other replica dies; a try of the store fails once, then the
	// lease is free.
	store.setHolder(lease, "")
	store.mu.Lock()
	store.tryErr = errors.New("connection refused")
	store.mu.Unlock()
	c.tick <- struct{}{}
	c.awaitIdle(t, 1)
	if got := ids(k.delivered()); !slices.Equal(got, ids(events)) {
		t.Fatalf("delivered %d events after taking the lease, want %d", len(got), len(events))
	}
	if m := f.Metrics()[0]; m.Standby || m.Delivered != 20 {
		t.Errorf("metrics once holding the lease: %+v", m)
	}
	errMu.Lock()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), `taking the lease "forward/hook": connection refused`) {
		t.Errorf("OnError got %v, want the failed try", errs)
	}
	errMu.Unlock()

	// It loses the lease (its session ended) and another replica takes
	// it: the route renews before its next pass, finds out and stands by.
	store.setHolder(lease, "another replica")
	more := appendEvents(t, store.Store, "acme", 5)
	c.wakeAll()
	await(t, c.standby, "standby after losing the lease")
	if got := len(k.delivered()); got != 20 {
		t.Errorf("delivered %d events after losing the lease, want still 20", got)
	}
	if !f.Metrics()[0].Standby {
		t.Error("not on standby after losing the lease")
	}
	// The other replica stops; the route takes over where it stood.
	store.setHolder(lease, "")
	c.tick <- struct{}{}
	c.awaitIdle(t, 1)
	if got := ids(k.delivered()); !slices.Equal(got, ids(append(events, more...))) {
		t.Fatalf("delivered %d events after taking over again, want %d", len(got), len(events)+len(more))
	}

	if err := stop(); err != nil {
		t.Fatal(err)
	}
	store.mu.Lock()
	defer store.mu.Unlock()
	if store.holder[lease] != "" || !slices.Equal(store.released, []string{lease}) {
		t.Errorf("after Run returned: holder %q, released %v; want the lease let go once", store.holder[lease], store.released)
	}
}

// LeaseInterval must not be negative.
func TestNewForwarderRefusesANegativeLeaseInterval(t *testing.T) {
	_, err := forward.New(memstore.New(), []forward.Route{{Name: "hook", Sink: &sink{}}}, &forward.Options{LeaseInterval: -time.Second})
	if !errors.Is(err, forward.ErrInvalidOptions) || !strings.Contains(err.Error(), "LeaseInterval") {
		t.Errorf("New = %v, want ErrInvalidOptions naming LeaseInterval", err)
	}
}
