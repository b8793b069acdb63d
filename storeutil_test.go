package auditevents_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

func TestCeilMicro(t *testing.T) {
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   time.Time
		want time.Time
	}{
		{"zero", time.Time{}, time.Time{}},
		{"whole microsecond", at.Add(time.Microsecond), at.Add(time.Microsecond)},
		{"one nanosecond past", at.Add(time.Nanosecond), at.Add(time.Microsecond)},
		{"one nanosecond short", at.Add(time.Microsecond - time.Nanosecond), at.Add(time.Microsecond)},
		{"other zone", at.In(time.FixedZone("X", 3600)).Add(1500 * time.Nanosecond), at.Add(2 * time.Microsecond)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 999_999_001, time.UTC), time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := auditevents.CeilMicro(tt.in)
			if !got.Equal(tt.want) || (!got.IsZero() && got.Location() != time.UTC) {
				t.Errorf("CeilMicro(%s) = %s, want %s in UTC", tt.in, got, tt.want)
			}
		})
	}
	// The promise: comparisons of microsecond timestamps with the rounded
	// bound agree with comparisons with the exact one.
	for _, bound := range []time.Time{at.Add(500 * time.Nanosecond), at, at.Add(-1)} {
		c := auditevents.CeilMicro(bound)
		for _, ts := range []time.Time{at.Add(-time.Microsecond), at, at.Add(time.Microsecond)} {
			if ts.Before(bound) != ts.Before(c) {
				t.Errorf("%s before %s is %v, before CeilMicro %s is %v", ts, bound, ts.Before(bound), c, ts.Before(c))
			}
		}
	}
}

func TestMicroRange(t *testing.T) {
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	id := "01JGFJJZ000000000000000001"
	q := auditevents.Query{Since: at.Add(1), Before: at.Add(2 * time.Microsecond), After: auditevents.Cursor{Timestamp: at.Add(time.Microsecond), ID: id}}
	since, before, after := q.MicroRange()
	if !since.Equal(at.Add(time.Microsecond)) || !before.Equal(at.Add(2*time.Microsecond)) {
		t.Errorf("range [%s, %s), want [%s, %s)", since, before, at.Add(time.Microsecond), at.Add(2*time.Microsecond))
	}
	if want := (auditevents.Cursor{Timestamp: at.Add(time.Microsecond), ID: id}); after != want {
		t.Errorf("cursor on a whole microsecond = %+v, want it unchanged", after)
	}
	q.After.Timestamp = at.Add(1500 * time.Nanosecond)
	if _, _, after := q.MicroRange(); after != (auditevents.Cursor{Timestamp: at.Add(2 * time.Microsecond)}) {
		t.Errorf("cursor between microseconds = %+v, want the next microsecond with no ID", after)
	}
	if s, b, a := (&auditevents.Query{}).MicroRange(); !s.IsZero() || !b.IsZero() || !a.IsZero() {
		t.Errorf("the zero Query's range = %s, %s, %+v; want zeros", s, b, a)
	}
}

// chunks returns a ChunkFunc start for QueryChunks that serves events in
// chunks, recording the want of each call.
func chunks(events []auditevents.AuditEvent, wants *[]int, fail error) func(*auditevents.Query) (auditevents.ChunkFunc, func()) {
	return func(*auditevents.Query) (auditevents.ChunkFunc, func()) {
		pos := 0
		return func(buf []auditevents.AuditEvent, want int) ([]auditevents.AuditEvent, bool, error) {
			*wants = append(*wants, want)
			if fail != nil && pos > 0 {
				return buf, true, fail
			}
			n := min(want, len(events)-pos)
			buf = append(buf, events[pos:pos+n]...)
			pos += n
			return buf, pos == len(events), nil
		}, nil
	}
}

func TestQueryChunks(t *testing.T) {
	events := make([]auditevents.AuditEvent, 10)
	for i := range events {
		events[i].User = string(rune('a' + i))
	}
	users := func(es []auditevents.AuditEvent) string {
		var s []byte
		for _, e := range es {
			s = append(s, e.User...)
		}
		return string(s)
	}
	t.Run("all, in chunks", func(t *testing.T) {
		var wants []int
		got, err := auditevents.Collect(auditevents.QueryChunks(context.Background(), auditevents.Query{}, 4, chunks(events, &wants, nil)))
		if err != nil || users(got) != "abcdefghij" {
			t.Errorf("got %q, %v; want abcdefghij, nil", users(got), err)
		}
		if !slices.Equal(wants, []int{4, 4, 4}) {
			t.Errorf("chunks asked for %v, want [4 4 4]", wants)
		}
	})
	t.Run("limit", func(t *testing.T) {
		var wants []int
		got, err := auditevents.Collect(auditevents.QueryChunks(context.Background(), auditevents.Query{Limit: 6}, 4, chunks(events, &wants, nil)))
		if err != nil || users(got) != "abcdef" {
			t.Errorf("got %q, %v; want abcdef, nil", users(got), err)
		}
		if !slices.Equal(wants, []int{4, 2}) {
			t.Errorf("chunks asked for %v, want [4 2]", wants)
		}
	})
	t.Run("invalid query", func(t *testing.T) {
		var wants []int
		got, err := auditevents.Collect(auditevents.QueryChunks(context.Background(), auditevents.Query{Limit: -1}, 4, chunks(events, &wants, nil)))
		var qe *auditevents.QueryError
		if !errors.As(err, &qe) || len(got) != 0 || len(wants) != 0 {
			t.Errorf("got %d events, %v, %d reads; want a *QueryError and no read", len(got), err, len(wants))
		}
	})
	t.Run("cancelled between chunks", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wants []int
		n := 0
		var err error
		for _, e := range auditevents.QueryChunks(ctx, auditevents.Query{}, 4, chunks(events, &wants, nil)) {
			if e != nil {
				err = e
				break
			}
			n++
			cancel()
		}
		if !errors.Is(err, context.Canceled) || n != 4 {
			t.Errorf("after %d events: %v; want context.Canceled after the first chunk of 4", n, err)
		}
	})
	t.Run("reader error", func(t *testing.T) {
		var wants []int
		got, err := auditevents.Collect(auditevents.QueryChunks(context.Background(), auditevents.Query{}, 4, chunks(events, &wants, auditevents.ErrClosed)))
		if !errors.Is(err, auditevents.ErrClosed) || users(got) != "abcd" {
			t.Errorf("got %q, %v; want abcd, ErrClosed", users(got), err)
		}
	})
	t.Run("end runs once, also on break", func(t *testing.T) {
		ends := 0
		start := func(q *auditevents.Query) (auditevents.ChunkFunc, func()) {
			next, _ := chunks(events, new([]int), nil)(q)
			return next, func() { ends++ }
		}
		for range auditevents.QueryChunks(context.Background(), auditevents.Query{}, 4, start) {
			break
		}
		if ends != 1 {
			t.Errorf("end ran %d times, want 1", ends)
		}
	})
}
