package auditevents

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
)

// RecorderOptions configures a [Recorder]. The zero value, like a nil
// *RecorderOptions, means the defaults given for each field.
type RecorderOptions struct {
	// Now returns the current time, which stamps events recorded without a
	// timestamp and sets the time part of new IDs. Defaults to time.Now.
	// Tests set it for deterministic timestamps.
	Now func() time.Time
	// Entropy is the source of the random part of new IDs. Defaults to
	// crypto/rand. Tests set it (to a seeded math/rand, say) for
	// deterministic IDs.
	Entropy io.Reader
}

// Recorder fills in the ID and the timestamp of events that have none, then
// appends them to a [Store]. IDs are ULIDs that increase strictly
// in the order they are made, even for many events in one millisecond and
// even when the clock steps back, so events recorded in the same microsecond
// keep their order.
//
// A Recorder is safe for concurrent use.
type Recorder struct {
	store Store
	now   func() time.Time

	mu      sync.Mutex
	entropy *ulid.MonotonicEntropy
	lastMS  uint64
}

// NewRecorder returns a Recorder that appends to store. opts may be nil.
func NewRecorder(store Store, opts *RecorderOptions) *Recorder {
	var o RecorderOptions
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Entropy == nil {
		o.Entropy = rand.Reader
	}
	return &Recorder{store: store, now: o.Now, entropy: ulid.Monotonic(o.Entropy, 0)}
}

// Record stamps each event with [Recorder.Stamp] and appends them all to the
// store as one batch: all of them are stored or none is. It stamps the
// events in place, so after Record the caller's slice holds their IDs and
// timestamps (and passing the same slice again fails with
// [ErrDuplicateID]). It returns the error of the stamping or of
// [Store.Append], such as an [*EventError] for an event without a user.
func (r *Recorder) Record(ctx context.Context, events ...AuditEvent) error {
	for i := range events {
		if err := r.Stamp(&events[i]); err != nil {
			return err
		}
	}
	return r.store.Append(ctx, events...)
}

// Stamp gives e a new ID when its ID is empty, and the current time when its
// Timestamp is zero; it leaves set fields alone. A new ID's time part is the
// time of stamping, so an event imported with an old timestamp still gets an
// ID that sorts after every earlier one. It fails only when the entropy
// source does.
func (r *Recorder) Stamp(e *AuditEvent) error {
	now := r.now()
	if e.Timestamp.IsZero() {
		e.Timestamp = now.UTC().Truncate(time.Microsecond)
	}
	if e.ID != "" {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := ulid.Timestamp(now)
	if ms < r.lastMS {
		ms = r.lastMS // the clock stepped back: stay monotonic
	}
	var id ulid.ULID
	for {
		if err := id.SetTime(ms); err != nil {
			return fmt.Errorf("auditevents: stamping an event: %w", err)
		}
		err := r.entropy.MonotonicRead(ms, id[6:])
		if err == nil {
			break
		}
		if !errors.Is(err, ulid.ErrMonotonicOverflow) {
			return fmt.Errorf("auditevents: reading entropy for an event id: %w", err)
		}
		ms++ // this millisecond's IDs are used up: borrow the next one
	}
	r.lastMS = ms
	e.ID = id.String()
	return nil
}
