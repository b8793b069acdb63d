package auditevents

import (
	"context"
	"iter"
	"time"
)

// Store keeps audit events. The implementations in this module are
// store/memstore (in memory, for tests), store/boltstore (an embedded bbolt
// file, for one process) and store/pgstore (PostgreSQL, for several
// replicas). Any implementation must pass the conformance suite in
// store/storetest.
//
// Every method is safe for concurrent use, and every method but Close takes a
// context: a cancelled context stops the call promptly with the context's
// error. After Close, every method but Close returns [ErrClosed].
type Store interface {
	// Append stores a batch of events, all or nothing. Each event is
	// validated and normalized as [PrepareBatch] does, so an invalid event
	// returns an [*EventError] naming its index and field. An ID that is
	// already stored, or that appears twice in the batch, returns a
	// [*DuplicateIDError] naming it (which wraps [ErrDuplicateID]). On any
	// error nothing of the batch is stored. Appending no events does nothing and returns nil.
	Append(ctx context.Context, events ...AuditEvent) error

	// Query streams the events that match q in result order (see
	// [Compare]), at most q.Limit of them when it is positive. Memory stays
	// constant whatever the size of the result. The sequence yields one
	// non-nil error and stops when q is invalid (a [*QueryError]), when ctx
	// is cancelled, or when the store fails; the event that comes with an
	// error is the zero AuditEvent. Breaking out of the loop early is
	// allowed, and the loop's body may call the store's other methods.
	Query(ctx context.Context, q Query) iter.Seq2[AuditEvent, error]

	// Prune deletes every event whose timestamp is strictly before the
	// given time and returns how many it deleted. On error it returns how
	// many it had deleted so far; the events it had not reached are intact.
	// A deleted event is forgotten, ID included: appending it again stores
	// it again.
	Prune(ctx context.Context, before time.Time) (int, error)

	// Close releases the store. Calling it again returns nil.
	Close() error
}

// Collect gathers every event of a query into a slice, stopping at the first
// error, which it returns with the events gathered so far. It holds the whole
// result in memory: use it in tests and for small results.
func Collect(seq iter.Seq2[AuditEvent, error]) ([]AuditEvent, error) {
	var out []AuditEvent
	for e, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, e)
	}
	return out, nil
}
