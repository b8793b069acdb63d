package forward

import (
	"context"
	"fmt"
	"time"
)

// DefaultLeaseInterval is the default of [Options].LeaseInterval.
const DefaultLeaseInterval = 5 * time.Second

// LeasePrefix starts the name of each route's lease: a route named "hook"
// takes the lease "forward/hook".
const LeasePrefix = "forward/"

// Leaser is implemented by a [Store] that several processes share, such as
// the replicas of a host behind a load balancer that all use one PostgreSQL
// database (store/pgstore). A [Forwarder] whose store implements it forwards
// a route only while it holds the route's lease, so that with several
// replicas each forwarding the same routes, one at a time forwards each
// route, and another takes over when it stops or dies. A store used by one
// process at a time (store/memstore, store/boltstore, which locks its file)
// needs none.
//
// A lease is held by a store value, against every other store value of the
// same data, in this process or another, the holder included: TryLease of a
// lease that this store value already holds reports false too. It is lost
// when its holder's process dies or its connection to the data is lost, so
// that another can take it; RenewLease tells the holder. Every method is
// safe for concurrent use.
//
// A lease is what keeps replicas from forwarding the same events at once,
// not what keeps them from losing any: positions move only after a sink
// acknowledged a batch, so even two holders at once (one that lost its
// lease and did not know it yet, and the one that took it) deliver every
// event, some twice.
type Leaser interface {
	// TryLease takes the named lease if no one holds it, and reports
	// whether it did. It does not wait for a holder to let it go.
	TryLease(ctx context.Context, name string) (bool, error)
	// RenewLease reports whether the named lease, which TryLease took,
	// is still held, and keeps it so (a lease with an expiry is
	// extended). It reports false, and no error, once the lease was lost
	// or released.
	RenewLease(ctx context.Context, name string) (bool, error)
	// ReleaseLease lets the named lease go, so that another may take it
	// at once. Releasing a lease not held does nothing.
	ReleaseLease(ctx context.Context, name string) error
}

// leaseTimeout bounds the release of a lease when a route stops, which goes
// on when Run's context is cancelled.
const leaseTimeout = 10 * time.Second

// holdLease makes sure that r holds its lease before a pass, when the store
// is a [Leaser]: it renews the lease r holds, or tries to take it, and
// reports whether r may forward. It records in r's metrics whether r is on
// standby.
func (f *Forwarder) holdLease(ctx context.Context, r *route) (bool, error) {
	leaser, ok := f.store.(Leaser)
	if !ok {
		return true, nil
	}
	name := LeasePrefix + r.Name
	var (
		held bool
		err  error
	)
	if r.leased {
		held, err = leaser.RenewLease(ctx, name)
		if err != nil {
			return false, fmt.Errorf("renewing the lease %q: %w", name, err)
		}
	}
	if !held {
		held, err = leaser.TryLease(ctx, name)
		if err != nil {
			return false, fmt.Errorf("taking the lease %q: %w", name, err)
		}
	}
	r.leased = held
	r.mu.Lock()
	r.metrics.Standby = !held
	if !held {
		r.pendingTS = time.Time{}
	}
	r.mu.Unlock()
	return held, nil
}

// releaseLease lets r's lease go, if it holds one, as r stops.
func (f *Forwarder) releaseLease(ctx context.Context, r *route) {
	leaser, ok := f.store.(Leaser)
	if !ok || !r.leased {
		return
	}
	r.leased = false
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseTimeout)
	defer cancel()
	if err := leaser.ReleaseLease(ctx, LeasePrefix+r.Name); err != nil && f.opts.OnError != nil {
		// The lease is lost with the holder's connection anyway; the
		// error is only reported.
		f.opts.OnError(r.Name, fmt.Errorf("forward: route %q: releasing the lease: %w", r.Name, err))
	}
}
