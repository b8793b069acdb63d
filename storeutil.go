package auditevents

import (
	"context"
	"iter"
	"time"
)

// This file holds what every Store implementation needs and would
// otherwise write again: the rounding of a query's bounds to the precision
// stores keep, and the loop that streams a result chunk by chunk.

// CeilMicro returns t in UTC, rounded up to a whole microsecond. For a
// timestamp ts kept to the microsecond, as stores keep them, ts >= t exactly
// when ts >= CeilMicro(t), and ts < t exactly when ts < CeilMicro(t): a
// store compares stored timestamps with the rounded bound and selects
// exactly the events the exact bound selects. It returns the zero Time for
// the zero Time.
func CeilMicro(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	t = t.UTC()
	if c := t.Truncate(time.Microsecond); !c.Equal(t) {
		return c.Add(time.Microsecond)
	}
	return t
}

// MicroRange returns q's time range and cursor rounded for a store that
// keeps timestamps to the microsecond, all in UTC: a stored event at ts with
// ID id passes q.Since and q.Before exactly when since <= ts < before (a zero
// bound is no bound), and comes after q.After exactly when (ts, id) <
// (after.Timestamp, after.ID), comparing timestamps first and IDs as
// strings. A cursor between two microseconds becomes the next microsecond
// with the ID "", before which every event of the microsecond it falls in
// lies. A zero q.After stays zero.
func (q *Query) MicroRange() (since, before time.Time, after Cursor) {
	since, before = CeilMicro(q.Since), CeilMicro(q.Before)
	if q.After.IsZero() {
		return since, before, Cursor{}
	}
	after = Cursor{Timestamp: q.After.Timestamp.UTC(), ID: q.After.ID}
	if c := CeilMicro(after.Timestamp); !c.Equal(after.Timestamp) {
		after = Cursor{Timestamp: c}
	}
	return since, before, after
}

// ChunkFunc reads the next chunk of a query's result for [QueryChunks]: it
// appends to buf (empty, and reused from chunk to chunk) at most want
// events, want being at least 1, in result order, continuing after the last
// event the previous call looked at. It reports done when nothing of the
// result is left after them. It returns [ErrClosed] when the store is
// closed, and the store's error when it fails.
type ChunkFunc func(buf []AuditEvent, want int) (chunk []AuditEvent, done bool, err error)

// QueryChunks returns the sequence that a [Store]'s Query method returns,
// for a store that reads a result chunk by chunk and holds no lock,
// transaction or connection between chunks. Memory stays that of one chunk
// whatever the size of the result, and the loop's body, which runs between
// chunks, may call the store.
//
// Each run of the sequence first yields q's [Query.Validate] error if q is
// invalid. Otherwise it calls start once, which returns the reader of this
// run and a function to call when the run ends (nil when there is none).
// Then, until the result is done or q.Limit events have been yielded, it
// checks ctx (yielding its error), reads a chunk of at most chunkSize events
// (fewer when fewer of q.Limit remain; a chunkSize below 1 counts as 1), and
// yields its events. A reader's
// error is yielded as it is, and ends the run.
func QueryChunks(ctx context.Context, q Query, chunkSize int, start func(q *Query) (next ChunkFunc, end func())) iter.Seq2[AuditEvent, error] {
	return func(yield func(AuditEvent, error) bool) {
		if err := q.Validate(); err != nil {
			yield(AuditEvent{}, err)
			return
		}
		chunkSize = max(chunkSize, 1)
		next, end := start(&q)
		if end != nil {
			defer end()
		}
		var buf []AuditEvent
		sent := 0
		for {
			if err := ctx.Err(); err != nil {
				yield(AuditEvent{}, err)
				return
			}
			want := chunkSize
			if q.Limit > 0 {
				want = min(want, q.Limit-sent)
			}
			chunk, done, err := next(buf[:0], want)
			if err != nil {
				yield(AuditEvent{}, err)
				return
			}
			for _, e := range chunk {
				if !yield(e, nil) {
					return
				}
			}
			sent += len(chunk)
			if done || (q.Limit > 0 && sent >= q.Limit) {
				return
			}
			buf = chunk
		}
	}
}
