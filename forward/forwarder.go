package forward

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditevents/auditevents"
)

// Defaults of [Options].
const (
	DefaultBatchSize    = 500
	DefaultPollInterval = 500 * time.Millisecond
	DefaultMinBackoff   = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
)

// Store is what a [Forwarder] reads and where it keeps its progress: a
// store's per-account logs ([auditevents.Ledger]) and its consumers'
// positions ([auditevents.Positions]).
type Store interface {
	auditevents.Ledger
	auditevents.Positions
}

// Route is one destination of a [Forwarder]: a sink, the name under which its
// positions are kept, and the events it wants.
type Route struct {
	// Name identifies the route's positions in the store: unique among the
	// Forwarder's routes, and the same from one run of the host to the
	// next, or the route starts again from the first event. Required; at
	// most [auditevents.MaxNameBytes] of UTF-8.
	Name string
	// Sink receives the route's batches. Required.
	Sink Sink
	// Accounts lists the accounts whose events the route forwards. Nil
	// means every account of the store, as [auditevents.Ledger.Accounts]
	// lists them at each pass, so new accounts are picked up.
	Accounts []string
	// Kinds, when not empty, limits the route to events about resources of
	// these kinds.
	Kinds []auditevents.Kind
	// Actions, when not empty, limits the route to events of these
	// actions.
	Actions []auditevents.Action
	// Redact, when set, removes or masks fields of every event of the
	// route before its Sink sees it, such as the IP addresses for a sink
	// outside the host's organisation ([auditevents.MaskIPAddress],
	// [auditevents.RedactFields]). It is applied to the route's own copy
	// of each event ([auditevents.Redactor.ApplyTo]), after Kinds and
	// Actions have chosen the event by its stored fields, each time the
	// event is read (a batch sent again is redacted again), with the
	// context of [Forwarder.Run]. The stored events, and what other routes
	// send, do not change. Nil sends events as stored.
	Redact auditevents.Redactor
}

// Options configures a [Forwarder]. The zero value, like a nil *Options,
// means the defaults given for each field.
type Options struct {
	// BatchSize is the most events one Send carries. 0 means
	// DefaultBatchSize.
	BatchSize int
	// PollInterval is how long a route that has forwarded everything
	// waits before it reads the store again, unless a commit of one of
	// its accounts wakes it first (see [Forwarder]). 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed batch is
	// sent again: about MinBackoff after the first failure, twice as long
	// after each next one, at most MaxBackoff; each wait is drawn at
	// random from its upper half (jitter), and is at least the delay a
	// [*RetryError] asks for. 0 means DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// LeaseInterval is how often a route on standby tries to take its
	// lease, when the store is a [Leaser]: the longest a route goes
	// unforwarded after the replica that held it stopped or died. 0
	// means DefaultLeaseInterval.
	LeaseInterval time.Duration
	// OnError, when set, is called with each failure of a route (a Send
	// that failed, a store that failed), from the route's goroutine; it
	// must not block for long. The failure is also in [Forwarder.Metrics].
	OnError func(route string, err error)
	// Now returns the current time, for metrics. Nil means time.Now.
	Now func() time.Time
	// Wait waits for d or until ctx is done, and returns ctx's error in
	// the latter case. Nil means a timer. Tests replace it to run without
	// sleeping.
	Wait func(ctx context.Context, d time.Duration) error
	// Rand returns a number in [0, 1) for the jitter of backoffs; it must
	// be safe for concurrent use. Nil means math/rand/v2's Float64.
	Rand func() float64
}

// Forwarder forwards the events of a [Store] to sinks, at least once and in
// each account's sequence order, keeping each route's position in the store.
//
// Each route runs in its own goroutine. A pass reads, for each of the
// route's accounts, the events from the route's position on, up to
// BatchSize of them that pass the route's filters, sends them to the sink,
// and moves the position past them only once the sink has acknowledged
// them: after a crash at any moment, at most the batch that was not
// acknowledged is sent again. Events that the filters leave out, and pruned
// ones, are passed over. A route holds one batch in memory, whatever the
// backlog: while a sink is down, the store is the buffer.
//
// A route that has forwarded everything waits for new events: when the
// store is an [auditevents.Notifier] (store/memstore, store/boltstore), until
// the next commit of one of the accounts it read; otherwise (store/pgstore)
// PollInterval, or less when the host calls [Forwarder.Notify]. A route of
// every account finds the first events of a new account within
// PollInterval, or at the next Notify, either way.
//
// A failed batch is sent again after a backoff (see [Options]). A permanent
// error of the sink ([IsPermanent]) stops the route, with its position at
// the batch that failed, so nothing is lost: the failure is reported to
// OnError and in [Forwarder.Metrics], and the next [Forwarder.Run] starts it
// again. So does a store that is closed ([auditevents.ErrClosed]) or that
// refuses the route's position (an [*auditevents.QueryError]); any other
// failure of the store is retried like a failed batch.
//
// When the store is a [Leaser] (store/pgstore), a route forwards only while
// its Forwarder holds the route's lease, named [LeasePrefix] and the route's
// name: it renews the lease before each pass, and while another replica
// holds it the route is on standby ([RouteMetrics].Standby) and tries to
// take it every LeaseInterval. A route lets its lease go when it stops. So
// the replicas of a host may all run a Forwarder with the same routes: one
// forwards each route, and when it stops or dies (its database session ends
// with it) another takes over within LeaseInterval, from the positions the
// first stored: the batch that was in flight is sent again, nothing is
// lost. The stores that one process holds at a time (store/memstore,
// store/boltstore) need no lease.
//
// A Forwarder is safe for concurrent use; Run runs once at a time.
type Forwarder struct {
	store    Store
	notifier auditevents.Notifier // the store, when it says when it commits; else nil
	routes   []*route
	opts     Options
	running  atomic.Bool
}

// route is a Route with its state and metrics.
type route struct {
	Route
	kinds   map[auditevents.Kind]bool
	actions map[auditevents.Action]bool
	buf     []auditevents.AuditEvent
	leased  bool // the route holds its lease (lease.go); only its goroutine uses it
	// appended holds the channels of the Notifier for the accounts of
	// the route's last pass, each taken before the account was read;
	// only the route's goroutine uses it.
	appended []<-chan struct{}

	mu        sync.Mutex
	metrics   RouteMetrics
	pendingTS time.Time          // timestamp of the oldest event read and not acknowledged; zero when none
	notified  bool               // Notify was called since the route's last pass began
	wake      context.CancelFunc // ends the route's idle wait; nil when it is not waiting
}

// RouteMetrics describes a route's progress, as [Forwarder.Metrics] returns
// it.
type RouteMetrics struct {
	// Route is the route's name.
	Route string
	// Delivered counts the events the sink acknowledged since the
	// Forwarder was made, and Batches the Sends that succeeded.
	Delivered, Batches int64
	// LagEvents is how many sequences of the route's accounts lie beyond
	// its positions, as of its last pass: events not yet forwarded
	// (including those its filters will pass over).
	LagEvents int64
	// Lag is how old, by its timestamp, the oldest event read but not yet
	// acknowledged is; 0 when the route has caught up. An event recorded
	// with an old timestamp makes it look larger than it is.
	Lag time.Duration
	// Failures counts the failed attempts of the current batch; 0 after a
	// success.
	Failures int
	// LastError is the route's last failure, and LastErrorAt when it
	// happened; nil when it never failed.
	LastError   error
	LastErrorAt time.Time
	// Stopped says the route stopped, on LastError (see [Forwarder]).
	Stopped bool
	// Standby says that the store is a [Leaser] and another replica
	// (another store value) holds the route's lease: this Forwarder
	// waits to take over, and its Delivered and lag stay as they were.
	Standby bool
}

// New returns a Forwarder of store's events to routes. opts may be nil. It
// returns an error wrapping [ErrInvalidOptions] that names the offending
// route or option: a route without a name or a sink, two routes of the same
// name, a kind that is not one of [auditevents.Kinds], a negative option, or
// MinBackoff above MaxBackoff.
func New(store Store, routes []Route, opts *Options) (*Forwarder, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: no store", ErrInvalidOptions)
	}
	if len(routes) == 0 {
		return nil, fmt.Errorf("%w: no routes", ErrInvalidOptions)
	}
	f := &Forwarder{store: store}
	f.notifier, _ = store.(auditevents.Notifier)
	if opts != nil {
		f.opts = *opts
	}
	o := &f.opts
	if o.BatchSize < 0 || o.PollInterval < 0 || o.MinBackoff < 0 || o.MaxBackoff < 0 || o.LeaseInterval < 0 {
		return nil, fmt.Errorf("%w: BatchSize, PollInterval, MinBackoff, MaxBackoff and LeaseInterval must not be negative", ErrInvalidOptions)
	}
	o.BatchSize = cmp(o.BatchSize, DefaultBatchSize)
	o.PollInterval = cmp(o.PollInterval, DefaultPollInterval)
	o.MinBackoff = cmp(o.MinBackoff, DefaultMinBackoff)
	o.MaxBackoff = cmp(o.MaxBackoff, DefaultMaxBackoff)
	o.LeaseInterval = cmp(o.LeaseInterval, DefaultLeaseInterval)
	if o.MinBackoff > o.MaxBackoff {
		return nil, fmt.Errorf("%w: MinBackoff %v is above MaxBackoff %v", ErrInvalidOptions, o.MinBackoff, o.MaxBackoff)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Wait == nil {
		o.Wait = wait
	}
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	names := make(map[string]bool, len(routes))
	for i, r := range routes {
		if err := auditevents.CheckPosition(r.Name, 0, 0); err != nil {
			return nil, fmt.Errorf("%w: route %d: name %v", ErrInvalidOptions, i, err)
		}
		if names[r.Name] {
			return nil, fmt.Errorf("%w: route %d: name %q is used twice", ErrInvalidOptions, i, r.Name)
		}
		names[r.Name] = true
		if r.Sink == nil {
			return nil, fmt.Errorf("%w: route %q: no sink", ErrInvalidOptions, r.Name)
		}
		rt := &route{Route: r, metrics: RouteMetrics{Route: r.Name}}
		rt.Accounts = slices.Clone(r.Accounts)
		if len(r.Kinds) > 0 {
			rt.kinds = make(map[auditevents.Kind]bool, len(r.Kinds))
			for _, k := range r.Kinds {
				if !k.Valid() {
					return nil, fmt.Errorf("%w: route %q: kind %q is not one of auditevents.Kinds", ErrInvalidOptions, r.Name, k)
				}
				rt.kinds[k] = true
			}
		}
		if len(r.Actions) > 0 {
			rt.actions = make(map[auditevents.Action]bool, len(r.Actions))
			for _, a := range r.Actions {
				rt.actions[a] = true
			}
		}
		f.routes = append(f.routes, rt)
	}
	return f, nil
}

// cmp returns v, or def when v is zero.
func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// positionTimeout bounds the storing of a position after the sink has
// acknowledged a batch, which goes on when Run's context is cancelled.
const positionTimeout = 10 * time.Second

// wait is the default Options.Wait.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run forwards until ctx is cancelled or every route has stopped (see
// [Forwarder]). It returns once every route's goroutine has returned: nil
// after a cancel (a Send in flight is cancelled through its context, and its
// batch is sent again by the next run), or the errors that stopped routes,
// joined. Calling Run while it runs
// returns [ErrRunning].
func (f *Forwarder) Run(ctx context.Context) error {
	if !f.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer f.running.Store(false)
	errs := make([]error, len(f.routes))
	var wg sync.WaitGroup
	for i, r := range f.routes {
		r.mu.Lock()
		r.metrics.Stopped = false
		r.mu.Unlock()
		wg.Go(func() { errs[i] = f.runRoute(ctx, r) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Metrics returns each route's metrics, in the order of the routes. It is
// safe to call at any time.
func (f *Forwarder) Metrics() []RouteMetrics {
	out := make([]RouteMetrics, len(f.routes))
	now := f.opts.Now()
	for i, r := range f.routes {
		r.mu.Lock()
		out[i] = r.metrics
		if !r.pendingTS.IsZero() {
			out[i].Lag = max(now.Sub(r.pendingTS), 0)
		}
		r.mu.Unlock()
	}
	return out
}

// runRoute runs passes of r until ctx is done (nil) or the sink fails
// permanently (the error).
func (f *Forwarder) runRoute(ctx context.Context, r *route) error {
	defer f.releaseLease(ctx, r)
	for {
		held, err := f.holdLease(ctx, r)
		progressed := false
		switch {
		case err == nil && !held:
			// Another replica forwards the route: try again later.
			if f.opts.Wait(ctx, f.opts.LeaseInterval) != nil {
				return nil
			}
			continue
		case err == nil:
			progressed, err = f.pass(ctx, r)
		}
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			err = fmt.Errorf("forward: route %q: %w", r.Name, err)
			failures := f.failed(r, err)
			if stops(err) {
				return err
			}
			if f.opts.Wait(ctx, f.backoff(failures, err)) != nil {
				return nil
			}
			continue
		}
		if !progressed && !f.idle(ctx, r) {
			return nil
		}
	}
}

// idle waits PollInterval, or less when [Forwarder.Notify] is called or
// the store commits events of an account of r's last pass, and reports
// whether ctx is still live.
func (f *Forwarder) idle(ctx context.Context, r *route) bool {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.mu.Lock()
	if r.notified {
		r.notified = false
		r.mu.Unlock()
		return ctx.Err() == nil
	}
	r.wake = cancel
	r.mu.Unlock()
	// reflect.Select takes at most 65,536 cases: one is wctx's.
	for chans := range slices.Chunk(r.appended, 1<<16-1) {
		cases := make([]reflect.SelectCase, 0, len(chans)+1)
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(wctx.Done())})
		for _, ch := range chans {
			cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
		}
		go func() {
			if chosen, _, _ := reflect.Select(cases); chosen > 0 {
				cancel() // a commit: read the store now
			}
		}()
	}
	f.opts.Wait(wctx, f.opts.PollInterval)
	r.mu.Lock()
	r.wake, r.notified = nil, false
	r.mu.Unlock()
	return ctx.Err() == nil
}

// Notify tells the routes that events were appended, so that a route that
// has caught up reads the store now rather than at its next poll. A host
// whose store is not an [auditevents.Notifier] (store/pgstore) calls it
// after Append to forward with little delay; without it, a route finds new
// events within PollInterval. A Notifier store wakes the routes at each
// commit by itself, except for the first events of an account a route has
// not read yet. It is safe to call at any time, and cheap.
func (f *Forwarder) Notify() {
	for _, r := range f.routes {
		r.mu.Lock()
		if r.wake != nil {
			r.wake()
			r.wake = nil
		} else {
			r.notified = true
		}
		r.mu.Unlock()
	}
}

// failed records a failure of r and returns how many attempts of the
// current batch have failed.
func (f *Forwarder) failed(r *route, err error) int {
	r.mu.Lock()
	r.metrics.Failures++
	r.metrics.LastError = err
	r.metrics.LastErrorAt = f.opts.Now()
	r.metrics.Stopped = stops(err)
	failures := r.metrics.Failures
	r.mu.Unlock()
	if f.opts.OnError != nil {
		f.opts.OnError(r.Name, err)
	}
	return failures
}

// stops reports whether err stops a route rather than being retried: the
// sink's permanent errors, a closed store, and a position the store's log
// refuses (a store that lost events, or another store than the one the
// positions were kept for).
func stops(err error) bool {
	return IsPermanent(err) || errors.Is(err, auditevents.ErrClosed) || errors.Is(err, auditevents.ErrInvalidQuery)
}

// backoff returns the wait after the given number of failed attempts:
// MinBackoff doubled for each failure after the first, at most MaxBackoff,
// drawn from its upper half, and at least the delay err asks for.
func (f *Forwarder) backoff(failures int, err error) time.Duration {
	d := f.opts.MaxBackoff
	if shift := failures - 1; shift < 62 && f.opts.MinBackoff<<shift > 0 && f.opts.MinBackoff<<shift < d {
		d = f.opts.MinBackoff << shift
	}
	d = d/2 + time.Duration(f.opts.Rand()*float64(d/2))
	if after, ok := RetryAfter(err); ok && after > d {
		d = after
	}
	return d
}

// pass sends at most one batch for each of r's accounts, and reports whether
// any position moved. It stops at the first failure, and then updates the
// route's lag all the same.
func (f *Forwarder) pass(ctx context.Context, r *route) (progressed bool, err error) {
	accounts := r.Accounts
	if accounts == nil {
		for a, err := range f.store.Accounts(ctx) {
			if err != nil {
				return false, fmt.Errorf("listing accounts: %w", err)
			}
			accounts = append(accounts, a)
		}
	}
	r.appended = r.appended[:0]
	for _, account := range accounts {
		if f.notifier != nil {
			// Taken before the account is read, so that a commit
			// after the read wakes the route's idle wait.
			r.appended = append(r.appended, f.notifier.Appended(account))
		}
		var moved bool
		if moved, err = f.forwardAccount(ctx, r, account); err != nil {
			break
		}
		progressed = progressed || moved
	}
	f.updateLag(ctx, r, accounts)
	return progressed, err
}

// updateLag sets r's LagEvents to the sequences of its accounts beyond its
// positions. It leaves the metric as it was when the store fails.
func (f *Forwarder) updateLag(ctx context.Context, r *route, accounts []string) {
	var lag int64
	for _, account := range accounts {
		pos, err := f.store.Position(ctx, r.Name, account)
		if err != nil {
			return
		}
		size, err := f.store.TreeSize(ctx, account)
		if err != nil {
			return
		}
		lag += max(size-pos, 0)
	}
	r.mu.Lock()
	r.metrics.LagEvents = lag
	r.mu.Unlock()
}

// forwardAccount sends the next batch of the account's events that r wants,
// and moves r's position past it; it reports whether the position moved.
func (f *Forwarder) forwardAccount(ctx context.Context, r *route, account string) (bool, error) {
	pos, err := f.store.Position(ctx, r.Name, account)
	if err != nil {
		return false, fmt.Errorf("reading the position of account %q: %w", account, err)
	}
	batch, next, err := f.read(ctx, r, account, pos)
	if err != nil {
		return false, fmt.Errorf("reading account %q from sequence %d: %w", account, pos, err)
	}
	if next == pos {
		return false, nil
	}
	if len(batch) > 0 {
		r.mu.Lock()
		if r.pendingTS.IsZero() {
			r.pendingTS = batch[0].Timestamp
		}
		r.mu.Unlock()
		if err := r.Sink.Send(ctx, batch); err != nil {
			return false, fmt.Errorf("sending %d events of account %q from sequence %d: %w", len(batch), account, pos, err)
		}
	}
	// The sink has the batch: store the position even when the host is
	// stopping meanwhile, so a clean stop sends nothing twice.
	setCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), positionTimeout)
	defer cancel()
	if err := f.store.SetPosition(setCtx, r.Name, account, next); err != nil {
		return false, fmt.Errorf("storing the position %d of account %q: %w", next, account, err)
	}
	r.mu.Lock()
	r.pendingTS = time.Time{}
	r.metrics.Failures = 0
	if len(batch) > 0 {
		r.metrics.Delivered += int64(len(batch))
		r.metrics.Batches++
	}
	r.mu.Unlock()
	return true, nil
}

// read returns up to BatchSize events of the account that r wants, from
// sequence pos on, and the sequence after the last entry it passed. It
// passes at most 8 batches' worth of entries, so a route whose filters
// leave out most events still moves its position in steps of bounded cost.
func (f *Forwarder) read(ctx context.Context, r *route, account string, pos int64) ([]auditevents.AuditEvent, int64, error) {
	batch := r.buf[:0]
	next, scanned, maxScan := pos, 0, 8*f.opts.BatchSize
	for entry, err := range f.store.Entries(ctx, account, pos) {
		if err != nil {
			return nil, pos, err
		}
		if entry.Pruned > 0 {
			next = entry.Seq + entry.Pruned
		} else {
			if r.wants(&entry.Event) {
				batch = append(batch, entry.Event)
				r.Redact.ApplyTo(ctx, &batch[len(batch)-1])
			}
			next = entry.Seq + 1
		}
		if scanned++; scanned >= maxScan || len(batch) >= f.opts.BatchSize {
			break
		}
	}
	r.buf = batch
	return batch, next, nil
}

// wants reports whether e passes r's filters.
func (r *route) wants(e *auditevents.AuditEvent) bool {
	return (r.kinds == nil || r.kinds[e.ResourceKind]) && (r.actions == nil || r.actions[e.Action])
}
