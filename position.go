package auditevents

import (
	"context"
	"strconv"
)

// Positions is implemented by a [Ledger] that also keeps, durably and beside
// the events, how far each consumer of an account's log has got: the
// sequence it reads next. The forward package's forwarder keeps each sink's
// progress with it, so that after a restart (or a kill -9) a sink resumes at
// the first batch it had not acknowledged. store/memstore (in memory),
// store/boltstore and store/pgstore (durably) implement it; a third party's
// store opts in by implementing these methods too, and store/storetest
// checks them.
//
// A position is a sequence of the account's log (see [Ledger]): 0 before any
// event, the tree size once every event has been consumed. Every method is
// safe for concurrent use; after Close each returns [ErrClosed].
type Positions interface {
	// Position returns the position that consumer last stored for the
	// account, or 0 when it stored none.
	Position(ctx context.Context, consumer, account string) (int64, error)

	// SetPosition stores the consumer's position for the account, so that
	// a later Position returns it, also after the store is reopened; it is
	// durable when SetPosition returns. A position may move backwards (to
	// send events again). An empty consumer, or one longer than
	// [MaxNameBytes], returns a [*QueryError] for "consumer"; a position
	// below 0 or beyond the account's tree size a [*QueryError] for
	// "position".
	SetPosition(ctx context.Context, consumer, account string, position int64) error
}

// CheckPosition returns the [*QueryError] that [Positions.SetPosition]
// returns for an invalid consumer, or for a position outside [0, size] where
// size is the account's tree size.
func CheckPosition(consumer string, position, size int64) error {
	if reason := checkText(consumer, MaxNameBytes); consumer == "" || reason != "" {
		if reason == "" {
			reason = "must not be empty"
		}
		return &QueryError{Param: "consumer", Value: consumer, Reason: reason}
	}
	if position < 0 || position > size {
		return &QueryError{Param: "position", Value: strconv.FormatInt(position, 10), Reason: "must be a sequence from 0 to the tree size " + strconv.FormatInt(size, 10)}
	}
	return nil
}
