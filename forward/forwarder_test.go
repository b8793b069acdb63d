package forward_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/store/boltstore"
	"github.com/auditevents/auditevents/store/memstore"
)

// pollInterval is the poll interval of the tests' forwarders, distinct from
// every backoff, so the tests' Wait tells an idle route from a retry.
const pollInterval = 1234 * time.Hour

// clock is the tests' Options.Wait: a backoff is recorded and returns at
// once; a route that has caught up says so on idle and waits for wakeAll.
type clock struct {
	idle     chan string
	mu       sync.Mutex
	wake     chan struct{}
	backoffs []time.Duration
}

func newClock() *clock { return &clock{idle: make(chan string), wake: make(chan struct{})} }

func (c *clock) wait(ctx context.Context, d time.Duration) error {
	if d != pollInterval {
		c.mu.Lock()
		c.backoffs = append(c.backoffs, d)
		c.mu.Unlock()
		return ctx.Err()
	}
	c.mu.Lock()
	wake := c.wake
	c.mu.Unlock()
	return park(ctx, c.idle, "idle", wake)
}

// park sends v on out, then waits for resume; it returns ctx's error if ctx
// ends first.
func park[T any](ctx context.Context, out chan<- T, v T, resume <-chan struct{}) error {
	select {
	case out <- v:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-resume:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// wakeAll ends the wait of every idle route.
func (c *clock) wakeAll() {
	c.mu.Lock()
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
}

// awaitIdle returns once n routes have caught up and wait.
func (c *clock) awaitIdle(tb testing.TB, n int) {
	tb.Helper()
	for range n {
		select {
		case <-c.idle:
		case <-time.After(30 * time.Second): // a watchdog, not a wait for a result
			tb.Fatal("routes did not catch up")
		}
	}
}

func (c *clock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.backoffs)
}

// sink records the batches it acknowledges; fail, when set, decides whether
// call n (from 1) fails.
type sink struct {
	mu      sync.Mutex
	calls   int
	batches [][]auditevents.AuditEvent // acknowledged
	tried   [][]string                 // IDs of every call's batch
	fail    func(ctx context.Context, n int) error
}

func (s *sink) Send(ctx context.Context, events []auditevents.AuditEvent) error {
	s.mu.Lock()
	s.calls++
	n, fail := s.calls, s.fail
	ids := make([]string, len(events))
	for i := range events {
		ids[i] = events[i].ID
	}
	s.tried = append(s.tried, ids)
	s.mu.Unlock()
	if fail != nil {
		if err := fail(ctx, n); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.batches = append(s.batches, slices.Clone(events))
	s.mu.Unlock()
	return nil
}

// delivered returns every acknowledged event, in order.
func (s *sink) delivered() []auditevents.AuditEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []auditevents.AuditEvent
	for _, b := range s.batches {
		out = append(out, b...)
	}
	return out
}

var idCounter atomic.Int64

// appendEvents appends n events to the account, alternating kinds and
// actions, in batches of 7, and returns them in append order.
func appendEvents(tb testing.TB, s auditevents.Store, account string, n int) []auditevents.AuditEvent {
	tb.Helper()
	kinds := []auditevents.Kind{auditevents.KindConfiguration, auditevents.KindAgent, auditevents.KindUser}
	actions := []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted, "Rolled back"}
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		c := idCounter.Add(1)
		events[i] = auditevents.AuditEvent{
			ID:        fmt.Sprintf("01JGKRQ3M8V63QXKKD%08d", c),
			Timestamp: time.Date(2025, 1, 2, 15, 0, 0, 0, time.UTC).Add(time.Duration(c) * time.Second),
			Account:   account, User: "alice", Action: actions[int(c)%len(actions)],
			ResourceKind: kinds[int(c)%len(kinds)], ResourceName: "r",
		}
	}
	for b := range slices.Chunk(events, 7) {
		if err := s.Append(context.Background(), b...); err != nil {
			tb.Fatal(err)
		}
	}
	return events
}

// polled hides the store's Notifier, if any, from a forwarder: its routes
// then wake only when the tests' clock or Notify says so.
type polled struct{ forward.Store }

// newForwarder returns a forwarder of s whose waits are c's, and whose
// routes never learn of commits from the store itself (see polled), so
// that each test decides when a caught-up route reads again.
func newForwarder(tb testing.TB, s forward.Store, routes []forward.Route, c *clock, opts *forward.Options) *forward.Forwarder {
	tb.Helper()
	s = polled{s}
	if opts == nil {
		opts = &forward.Options{}
	}
	opts.PollInterval = pollInterval
	opts.Wait = c.wait
	if opts.Rand == nil {
		opts.Rand = func() float64 { return 0.5 }
	}
	f, err := forward.New(s, routes, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// start runs f until the returned stop is called, which returns Run's
// error.
func start(tb testing.TB, f *forward.Forwarder) (stop func() error) {
	ctx, cancel := context.WithCancel(tb.Context())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	tb.Cleanup(func() { stop() })
	return stop
}

// ids returns the IDs of events.
func ids(events []auditevents.AuditEvent) []string {
	out := make([]string, len(events))
	for i := range events {
		out[i] = events[i].ID
	}
	return out
}

// byAccount splits events by account, keeping their order.
func byAccount(events []auditevents.AuditEvent) map[string][]string {
	m := map[string][]string{}
	for _, e := range events {
		m[e.Account] = append(m[e.Account], e.ID)
	}
	return m
}

// Every event of every account reaches the sink once, in each account's
// append order, in batches of at most BatchSize events of one account; the
// positions end at the tree sizes, and events appended later follow.
func TestForwarderDeliversEveryAccountInOrder(t *testing.T) {
	store := memstore.New()
	var want []auditevents.AuditEvent
	for _, account := range []string{"", "acme", "globex"} {
		want = append(want, appendEvents(t, store, account, 23)...)
	}
	c := newClock()
	snk := &sink{}
	f := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: snk}}, c, &forward.Options{BatchSize: 5})
	stop := start(t, f)
	c.awaitIdle(t, 1)

	check := func() {
		t.Helper()
		got := snk.delivered()
		if len(got) != len(want) {
			t.Fatalf("%d events delivered, want %d", len(got), len(want))
		}
		gotBy, wantBy := byAccount(got), byAccount(want)
		for account, w := range wantBy {
			if !slices.Equal(gotBy[account], w) {
				t.Errorf("account %q: delivered %v, want %v", account, gotBy[account], w)
			}
		}
		snk.mu.Lock()
		for _, b := range snk.batches {
			if len(b) > 5 || len(byAccount(b)) != 1 {
				t.Errorf("batch of %d events of %d accounts, want at most 5 of one", len(b), len(byAccount(b)))
			}
		}
		snk.mu.Unlock()
		for account, w := range wantBy {
			if pos, err := store.Position(t.Context(), "hook", account); err != nil || pos != int64(len(w)) {
				t.Errorf("position of %q = %d, %v; want %d", account, pos, err, len(w))
			}
		}
		m := f.Metrics()[0]
		if m.Route != "hook" || m.Delivered != int64(len(want)) || m.LagEvents != 0 || m.Lag != 0 || m.LastError != nil || m.Stopped {
			t.Errorf("metrics %+v", m)
		}
	}
	check()

	want = append(want, appendEvents(t, store, "acme", 9)...)
	want = append(want, appendEvents(t, store, "initech", 3)...) // an account that did not exist
	c.wakeAll()
	c.awaitIdle(t, 1)
	check()
	if err := stop(); err != nil {
		t.Errorf("Run = %v after a cancel, want nil", err)
	}
}

// A route forwards only its accounts, kinds and actions, and moves its
// position past the events it leaves out.
func TestForwarderFilters(t *testing.T) {
	store := memstore.New()
	var all []auditevents.AuditEvent
	for _, account := range []string{"acme", "globex"} {
		all = append(all, appendEvents(t, store, account, 40)...)
	}
	acmeOnly, deletedConfigs := &sink{}, &sink{}
	c := newClock()
	f := newForwarder(t, store, []forward.Route{
		{Name: "acme", Sink: acmeOnly, Accounts: []string{"acme"}},
		{Name: "deleted-configurations", Sink: deletedConfigs, Kinds: []auditevents.Kind{auditevents.KindConfiguration}, Actions: []auditevents.Action{auditevents.ActionDeleted, "Rolled back"}},
	}, c, &forward.Options{BatchSize: 4})
	start(t, f)
	c.awaitIdle(t, 2)

	var wantAcme, wantDeleted []string
	for _, e := range all {
		if e.Account == "acme" {
			wantAcme = append(wantAcme, e.ID)
		}
		if e.ResourceKind == auditevents.KindConfiguration && (e.Action == auditevents.ActionDeleted || e.Action == "Rolled back") {
			wantDeleted = append(wantDeleted, e.ID)
		}
	}
	if got := ids(acmeOnly.delivered()); !slices.Equal(got, wantAcme) {
		t.Errorf("acme route delivered %v, want %v", got, wantAcme)
	}
	got := ids(deletedConfigs.delivered())
	slices.Sort(got)
	slices.Sort(wantDeleted)
	if len(wantDeleted) == 0 || !slices.Equal(got, wantDeleted) {
		t.Errorf("filtered route delivered %v, want %v", got, wantDeleted)
	}
	for _, account := range []string{"acme", "globex"} {
		if pos, _ := store.Position(t.Context(), "deleted-configurations", account); pos != 40 {
			t.Errorf("filtered route's position in %q = %d, want 40", account, pos)
		}
	}
	if pos, _ := store.Position(t.Context(), "acme", "globex"); pos != 0 {
		t.Errorf("acme route moved in globex to %d", pos)
	}
	for _, m := range f.Metrics() {
		if m.LagEvents != 0 {
			t.Errorf("route %s: lag %d events, want 0", m.Route, m.LagEvents)
		}
	}
}

// A sink that fails for a while gets the same bounded batch again after
// backoffs that double, with jitter, and honour Retry-After; when it
// recovers, every event arrives once.
func TestForwarderRetriesUntilTheSinkRecovers(t *testing.T) {
	store := memstore.New()
	want := appendEvents(t, store, "acme", 1000)
	down := errors.New("receiver down")
	snk := &sink{fail: func(_ context.Context, n int) error {
		switch {
		case n == 3:
			return &forward.RetryError{Err: down, After: 10 * time.Second}
		case n <= 6:
			return down
		}
		return nil
	}}
	var reported []error
	c := newClock()
	f := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: snk}}, c, &forward.Options{
		BatchSize:  100,
		MinBackoff: time.Second,
		MaxBackoff: 8 * time.Second,
		OnError:    func(route string, err error) { reported = append(reported, err) },
	})
	stop := start(t, f)
	c.awaitIdle(t, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	// With Rand at 0.5 each wait is 3/4 of MinBackoff doubled per failure,
	// capped at MaxBackoff; the third failure asked for 10s.
	wantBackoffs := []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 10 * time.Second, 6 * time.Second, 6 * time.Second, 6 * time.Second}
	if got := c.recorded(); !slices.Equal(got, wantBackoffs) {
		t.Errorf("backoffs %v, want %v", got, wantBackoffs)
	}
	snk.mu.Lock()
	for i := range 7 {
		if !slices.Equal(snk.tried[i], ids(want[:100])) {
			t.Errorf("attempt %d carried %d events from %v, want the first batch of 100", i+1, len(snk.tried[i]), snk.tried[i][:1])
		}
	}
	snk.mu.Unlock()
	if got := ids(snk.delivered()); !slices.Equal(got, ids(want)) {
		t.Errorf("delivered %d events, want the %d appended, once each, in order", len(got), len(want))
	}
	if len(reported) != 6 || !errors.Is(reported[5], down) {
		t.Errorf("OnError got %d errors (%v), want 6", len(reported), reported)
	}
	m := f.Metrics()[0]
	if m.Failures != 0 || !errors.Is(m.LastError, down) || m.Delivered != 1000 || m.Batches != 10 {
		t.Errorf("metrics %+v", m)
	}
}

// While the sink is down, events keep being appended and the route keeps
// retrying, yet the forwarder's heap does not grow with the backlog: the
// store is the buffer. Once the sink is back, every event arrives once, in
// order. Users rely on this to leave a forwarder running through a long
// outage of the receiver.
//
// The heap is measured (after a GC) around each retry, with the forwarder
// parked in its backoff before and after, so the store's own growth from
// the appends is left out. The bound is a sixteenth of what holding the
// backlog's events would take (their structs alone, the strings being
// shared with the store): a forwarder that kept the backlog, or merely an
// ID per pending event, exceeds it, while one batch of BatchSize events
// stays well within it.
func TestForwarderHeapStaysFlatWhileTheSinkIsDown(t *testing.T) {
	const (
		rounds    = 6
		perRound  = 10_000
		batchSize = 100
	)
	store := memstore.New()
	want := appendEvents(t, store, "acme", 1000)
	snk := &flakySink{}
	snk.down.Store(true)

	// The route parks in every wait: the test lets it go one retry at a
	// time, so the heap is measured while it waits.
	waits := make(chan time.Duration)
	resume := make(chan struct{})
	wait := func(ctx context.Context, d time.Duration) error { return park(ctx, waits, d, resume) }
	parked := func() time.Duration {
		t.Helper()
		select {
		case d := <-waits:
			return d
		case <-time.After(30 * time.Second): // a watchdog, not a wait for a result
			t.Fatal("the route did not come back to a wait")
			return 0
		}
	}
	f, err := forward.New(store, []forward.Route{{Name: "hook", Sink: snk}}, &forward.Options{
		BatchSize: batchSize, PollInterval: pollInterval, Wait: wait,
		Rand: func() float64 { return 0.5 },
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, f)
	if d := parked(); d == pollInterval {
		t.Fatal("the route went idle with the sink down")
	}

	var ms runtime.MemStats
	heap := func() int64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	var growth int64 // the heap's growth across the retries
	for range rounds {
		want = append(want, appendEvents(t, store, "acme", perRound)...)
		before := heap()
		resume <- struct{}{}
		if d := parked(); d == pollInterval {
			t.Fatal("the route went idle with the sink down")
		}
		growth += heap() - before
	}
	backlog := int64(len(want))
	bound := backlog * int64(unsafe.Sizeof(auditevents.AuditEvent{})) / 16
	if growth > bound {
		t.Errorf("the forwarder's heap grew by %d bytes over %d retries with %d events waiting, want at most %d", growth, rounds, backlog, bound)
	}
	t.Logf("heap growth over %d retries with %d events waiting: %d bytes (bound %d)", rounds, backlog, growth, bound)
	if m := f.Metrics()[0]; m.Delivered != 0 || m.LagEvents != backlog || m.Failures != rounds+1 {
		t.Errorf("metrics while down: %+v, want nothing delivered, a lag of %d events and %d failures", m, backlog, rounds+1)
	}

	// The sink recovers: the route catches up and goes idle.
	snk.down.Store(false)
	resume <- struct{}{}
	if parked() != pollInterval {
		t.Fatal("the route retried after the sink recovered")
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := snk.delivered; !slices.Equal(got, ids(want)) {
		t.Errorf("delivered %d events, want the %d appended, once each, in order", len(got), len(want))
	}
	if m := f.Metrics()[0]; m.Delivered != backlog || m.LagEvents != 0 || m.Failures != 0 {
		t.Errorf("metrics after recovery: %+v", m)
	}
}

// flakySink fails while down is set, without keeping anything, and records
// the IDs it acknowledges otherwise.
type flakySink struct {
	down      atomic.Bool
	delivered []string // only the route's goroutine appends
}

func (s *flakySink) Send(_ context.Context, events []auditevents.AuditEvent) error {
	if s.down.Load() {
		return errors.New("receiver down")
	}
	for i := range events {
		s.delivered = append(s.delivered, events[i].ID)
	}
	return nil
}

// A permanent error stops its route, at the batch that failed, while the
// other routes go on; the next Run starts it again from there.
func TestForwarderStopsARouteOnAPermanentError(t *testing.T) {
	store := memstore.New()
	want := appendEvents(t, store, "acme", 12)
	var refuse atomic.Bool
	refuse.Store(true)
	bad := &sink{fail: func(context.Context, int) error {
		if refuse.Load() {
			return forward.Permanent(&forward.StatusError{StatusCode: 401})
		}
		return nil
	}}
	good := &sink{}
	c := newClock()
	stopped := make(chan struct{})
	f := newForwarder(t, store, []forward.Route{{Name: "bad", Sink: bad}, {Name: "good", Sink: good}}, c, &forward.Options{
		BatchSize: 5,
		OnError: func(route string, err error) {
			if route == "bad" && forward.IsPermanent(err) {
				close(stopped)
			}
		},
	})
	stop := start(t, f)
	c.awaitIdle(t, 1)
	<-stopped
	err := stop()
	var se *forward.StatusError
	if !forward.IsPermanent(err) || !errors.As(err, &se) || se.StatusCode != 401 {
		t.Fatalf("Run = %v, want the permanent 401", err)
	}
	ms := f.Metrics()
	if !ms[0].Stopped || ms[0].Delivered != 0 || ms[0].LagEvents != 12 || ms[0].LastError == nil || ms[0].Lag <= 0 {
		t.Errorf("bad route metrics %+v", ms[0])
	}
	if ms[1].Stopped || ms[1].Delivered != 12 {
		t.Errorf("good route metrics %+v", ms[1])
	}
	if pos, _ := store.Position(t.Context(), "bad", "acme"); pos != 0 {
		t.Errorf("bad route's position %d, want 0: the refused batch is not lost", pos)
	}

	refuse.Store(false)
	start(t, f)
	c.awaitIdle(t, 2)
	if got := ids(bad.delivered()); !slices.Equal(got, ids(want)) {
		t.Errorf("after a restart the route delivered %v, want %v", got, ids(want))
	}
	if ms := f.Metrics(); ms[0].Stopped {
		t.Errorf("route still marked stopped: %+v", ms[0])
	}
}

// A host killed while a batch is in flight loses nothing: a new forwarder
// over the same store sends the unacknowledged batch again, and only it.
func TestForwarderResumesAfterACrash(t *testing.T) {
	store := memstore.New()
	want := appendEvents(t, store, "acme", 30)
	ctx, crash := context.WithCancel(t.Context())
	first := &sink{fail: func(sendCtx context.Context, n int) error {
		if n == 3 {
			crash() // the host dies while the receiver holds the third batch
			<-sendCtx.Done()
			return sendCtx.Err()
		}
		return nil
	}}
	f1, err := forward.New(store, []forward.Route{{Name: "hook", Sink: first}}, &forward.Options{BatchSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := f1.Run(ctx); err != nil {
		t.Fatalf("Run = %v after the crash, want nil", err)
	}
	acked := ids(first.delivered())
	if !slices.Equal(acked, ids(want[:10])) {
		t.Fatalf("acknowledged before the crash: %v", acked)
	}

	second := &sink{}
	c := newClock()
	f2 := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: second}}, c, &forward.Options{BatchSize: 5})
	start(t, f2)
	c.awaitIdle(t, 1)
	if got := ids(second.delivered()); !slices.Equal(got, ids(want[10:])) {
		t.Errorf("after the restart: %v, want the unacknowledged %v", got, ids(want[10:]))
	}
}

// Cancelling Run's context stops a route whose sink is holding a batch, and
// Run returns nil.
func TestForwarderStopsOnCancel(t *testing.T) {
	store := memstore.New()
	appendEvents(t, store, "acme", 3)
	sending := make(chan struct{})
	snk := &sink{fail: func(ctx context.Context, _ int) error {
		close(sending)
		<-ctx.Done()
		return ctx.Err()
	}}
	f := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: snk}}, newClock(), nil)
	stop := start(t, f)
	<-sending
	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if pos, _ := store.Position(t.Context(), "hook", "acme"); pos != 0 {
		t.Errorf("position %d after a cancelled send, want 0", pos)
	}
}

// Run refuses to run twice at once.
func TestForwarderRunsOnce(t *testing.T) {
	store := memstore.New()
	c := newClock()
	f := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: &sink{}, Accounts: []string{"acme"}}}, c, nil)
	start(t, f)
	c.awaitIdle(t, 1)
	if err := f.Run(t.Context()); !errors.Is(err, forward.ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

// Through the webhook sink, a receiver gets every event, signed.
func TestForwarderToWebhook(t *testing.T) {
	store := memstore.New()
	want := appendEvents(t, store, "acme", 250)
	secret := []byte("0123456789abcdef0123456789abcdef")
	var mu sync.Mutex
	received := map[string]int{}
	rcv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := forward.VerifySignature(secret, r.Header.Get(forward.SignatureHeader), body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		var batch []struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, e := range batch {
			received[e.ID]++
		}
		mu.Unlock()
	})
	hook := newWebhook(t, rcv.URL, &forward.WebhookOptions{Secret: secret, Encoder: encode.CloudEvents{}})
	c := newClock()
	f := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: hook}}, c, &forward.Options{BatchSize: 64})
	start(t, f)
	c.awaitIdle(t, 1)
	mu.Lock()
	defer mu.Unlock()
	for _, e := range want {
		if received[e.ID] != 1 {
			t.Errorf("event %s received %d times", e.ID, received[e.ID])
		}
	}
	if len(received) != len(want) {
		t.Errorf("%d events received, want %d", len(received), len(want))
	}
}

// New refuses routes and options it cannot use, naming them.
func TestNewForwarderValidates(t *testing.T) {
	store := memstore.New()
	ok := forward.Route{Name: "hook", Sink: &sink{}}
	for _, tc := range []struct {
		name   string
		routes []forward.Route
		opts   forward.Options
		says   string
	}{
		{"no routes", nil, forward.Options{}, "no routes"},
		{"no name", []forward.Route{{Sink: &sink{}}}, forward.Options{}, "route 0: name"},
		{"no sink", []forward.Route{{Name: "x"}}, forward.Options{}, `route "x": no sink`},
		{"same name twice", []forward.Route{ok, ok}, forward.Options{}, `route 1: name "hook" is used twice`},
		{"unknown kind", []forward.Route{{Name: "x", Sink: &sink{}, Kinds: []auditevents.Kind{"Bogus"}}}, forward.Options{}, `kind "Bogus"`},
		{"negative batch", []forward.Route{ok}, forward.Options{BatchSize: -1}, "must not be negative"},
		{"min above max", []forward.Route{ok}, forward.Options{MinBackoff: time.Minute, MaxBackoff: time.Second}, "MinBackoff 1m0s is above MaxBackoff 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := forward.New(store, tc.routes, &tc.opts)
			if !errors.Is(err, forward.ErrInvalidOptions) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("New = %v, want ErrInvalidOptions saying %q", err, tc.says)
			}
		})
	}
}

// Notify ends the poll wait of a route that has caught up, so events appended
// since are forwarded at once; a Notify while a route is busy makes it look
// again before it waits.
func TestForwarderNotify(t *testing.T) {
	store := memstore.New()
	want := appendEvents(t, store, "acme", 3)
	c := newClock()
	snk := &sink{}
	f := newForwarder(t, store, []forward.Route{{Name: "hook", Sink: snk}}, c, nil)
	start(t, f)
	c.awaitIdle(t, 1)
	want = append(want, appendEvents(t, store, "acme", 4)...)
	f.Notify() // no wakeAll: only Notify ends the wait
	c.awaitIdle(t, 1)
	if got := ids(snk.delivered()); !slices.Equal(got, ids(want)) {
		t.Errorf("delivered %v, want %v", got, ids(want))
	}
}

// With a store that is a Notifier, a route that has caught up wakes at the
// next commit of one of its accounts, with no Notify and no poll: the
// route's poll wait here never ends by itself. Hosts rely on it to forward
// at once without wiring Append to Notify.
func TestForwarderWakesAtCommit(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(tb testing.TB) forward.Store
	}{
		{"memstore", func(testing.TB) forward.Store { return memstore.New() }},
		{"boltstore", func(tb testing.TB) forward.Store {
			s, err := boltstore.Open(filepath.Join(tb.TempDir(), "audit.db"), &boltstore.Options{NoSync: true})
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.open(t)
			add := func(n int) []auditevents.AuditEvent {
				return appendEvents(t, store.(auditevents.Store), "acme", n)
			}
			want := add(3)
			c := newClock()
			snk := &sink{}
			f, err := forward.New(store, []forward.Route{{Name: "hook", Sink: snk}}, &forward.Options{
				PollInterval: pollInterval, Wait: c.wait,
			})
			if err != nil {
				t.Fatal(err)
			}
			stop := start(t, f)
			c.awaitIdle(t, 1)
			for range 3 {
				want = append(want, add(4)...)
				c.awaitIdle(t, 1) // no wakeAll, no Notify: only the commit ends the wait
				if got := ids(snk.delivered()); !slices.Equal(got, ids(want)) {
					t.Fatalf("delivered %d events, want the %d appended", len(got), len(want))
				}
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A route whose position the store's log refuses (here, a log shorter than
// the position, as when the positions outlived the events) stops with the
// store's QueryError instead of retrying for ever.
func TestForwarderStopsOnARefusedPosition(t *testing.T) {
	store := memstore.New()
	appendEvents(t, store, "acme", 5)
	lost := &shortLog{Store: store}
	f := newForwarder(t, lost, []forward.Route{{Name: "hook", Sink: &sink{}, Accounts: []string{"acme"}}}, newClock(), nil)
	err := f.Run(t.Context())
	var qe *auditevents.QueryError
	if !errors.As(err, &qe) || qe.Param != "from" {
		t.Fatalf("Run = %v, want the store's QueryError for from", err)
	}
	if m := f.Metrics()[0]; !m.Stopped || m.LastError == nil {
		t.Errorf("metrics %+v", m)
	}
}

// shortLog is a store whose positions lie beyond its log: every Position is
// 99.
type shortLog struct{ *memstore.Store }

func (s *shortLog) Position(context.Context, string, string) (int64, error) { return 99, nil }

// A route's Redact changes what its sink receives, and nothing else: the
// other route gets the events as stored, the store keeps them whole, and a
// batch sent again after a failure is redacted again. The redactor here
// also writes into the metadata map it is given, which is the route's own
// copy.
func TestForwarderRedactsPerRoute(t *testing.T) {
	store := memstore.New()
	events := make([]auditevents.AuditEvent, 12)
	for i := range events {
		events[i] = auditevents.AuditEvent{
			ID:        fmt.Sprintf("01JGKRQ3M8V63QXKKR%08d", i),
			Timestamp: time.Date(2025, 1, 2, 15, 0, i, 0, time.UTC),
			Account:   "acme", User: "alice", Action: auditevents.ActionModified,
			ResourceKind: auditevents.KindConfiguration, ResourceName: "nginx",
			IPAddress: fmt.Sprintf("192.0.2.%d", 10+i), UserAgent: "curl/8.5.0", RequestID: fmt.Sprintf("req-%d", i),
			Metadata: map[string]string{"session": "s-1", "region": "eu-west-1"},
		}
		if i%3 == 0 {
			events[i].IPAddress = fmt.Sprintf("2001:db8:1:2::%x", i)
		}
	}
	if err := store.Append(t.Context(), events...); err != nil {
		t.Fatal(err)
	}
	mask, err := auditevents.MaskIPAddress(24, 48)
	if err != nil {
		t.Fatal(err)
	}
	drop, err := auditevents.RedactFields("userAgent", "metadata.session")
	if err != nil {
		t.Fatal(err)
	}
	mark := func(_ context.Context, e *auditevents.AuditEvent) { e.Metadata["redacted"] = "yes" }
	internal := &sink{}
	external := &sink{fail: func(_ context.Context, n int) error {
		if n == 1 {
			return errors.New("receiver unavailable")
		}
		return nil
	}}
	c := newClock()
	f := newForwarder(t, store, []forward.Route{
		{Name: "internal", Sink: internal},
		{Name: "external", Sink: external, Redact: auditevents.ChainRedactors(mask, drop, mark)},
	}, c, &forward.Options{BatchSize: 5})
	start(t, f)
	c.awaitIdle(t, 2)

	stored, err := auditevents.Collect(store.Query(t.Context(), auditevents.Query{}))
	if err != nil || len(stored) != len(events) {
		t.Fatalf("store holds %d events, %v", len(stored), err)
	}
	for _, e := range stored {
		if e.IPAddress == "" || e.UserAgent == "" || e.Metadata["session"] != "s-1" || e.Metadata["redacted"] != "" {
			t.Errorf("stored event changed by a route's redaction: %+v", e)
		}
	}
	got := internal.delivered()
	if len(got) != len(events) {
		t.Fatalf("internal route delivered %d events, want %d", len(got), len(events))
	}
	for i := range got {
		want := auditevents.Normalize(events[i])
		if !got[i].Equal(&want) {
			t.Errorf("internal route got\n%+v\nwant the event as stored\n%+v", got[i], want)
		}
	}
	got = external.delivered()
	if len(got) != len(events) {
		t.Fatalf("external route delivered %d events, want %d", len(got), len(events))
	}
	for i, e := range got {
		wantIP := "192.0.2.0"
		if i%3 == 0 {
			wantIP = "2001:db8:1::"
		}
		if e.IPAddress != wantIP || e.UserAgent != "" || e.RequestID != events[i].RequestID ||
			e.Metadata["session"] != "" || e.Metadata["region"] != "eu-west-1" || e.Metadata["redacted"] != "yes" {
			t.Errorf("external route got %+v: want the address masked to %s, no user agent, no session, marked", e, wantIP)
		}
	}
	if len(external.tried) < 2 || !slices.Equal(external.tried[0], external.tried[1]) {
		t.Errorf("the failed batch was not sent again: %v", external.tried)
	}
}
