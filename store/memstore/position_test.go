package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

// appendN appends n valid events to the account.
func appendN(tb testing.TB, s *memstore.Store, account string, n int) {
	tb.Helper()
	for i := range n {
		e := auditevents.AuditEvent{
			ID:        fmt.Sprintf("01JGKRQ3M8V63QXKKD6T5A%04d", i),
			Timestamp: time.Date(2025, 1, 2, 15, 4, i, 0, time.UTC),
			Account:   account, User: "alice", Action: auditevents.ActionCreated,
			ResourceKind: auditevents.KindConfiguration,
		}
		if account != "" {
			e.ID = fmt.Sprintf("01JGKRQ3M8V63QXKKD6T5B%04d", i)
		}
		if err := s.Append(context.Background(), e); err != nil {
			tb.Fatal(err)
		}
	}
}

// Positions are kept per consumer and per account, start at 0, may move
// backwards, and refuse what is not a sequence of the account's log.
func TestPositions(t *testing.T) {
	ctx := t.Context()
	s := memstore.New()
	appendN(t, s, "", 3)
	appendN(t, s, "acme", 5)

	if got, err := s.Position(ctx, "webhook", "acme"); got != 0 || err != nil {
		t.Fatalf("Position before any = %d, %v; want 0", got, err)
	}
	for _, set := range []struct {
		consumer, account string
		position          int64
	}{{"webhook", "acme", 4}, {"webhook", "", 3}, {"otlp", "acme", 1}, {"webhook", "acme", 5}, {"otlp", "acme", 0}} {
		if err := s.SetPosition(ctx, set.consumer, set.account, set.position); err != nil {
			t.Fatalf("SetPosition(%+v) = %v", set, err)
		}
	}
	for _, want := range []struct {
		consumer, account string
		position          int64
	}{{"webhook", "acme", 5}, {"webhook", "", 3}, {"otlp", "acme", 0}, {"otlp", "", 0}} {
		if got, err := s.Position(ctx, want.consumer, want.account); got != want.position || err != nil {
			t.Errorf("Position(%s, %s) = %d, %v; want %d", want.consumer, want.account, got, err, want.position)
		}
	}

	for _, bad := range []struct {
		consumer, account string
		position          int64
		param             string
	}{
		{"", "acme", 1, "consumer"},
		{"a\x00b", "acme", 1, "consumer"},
		{"webhook", "acme", -1, "position"},
		{"webhook", "acme", 6, "position"},
		{"webhook", "nobody", 1, "position"},
	} {
		var qe *auditevents.QueryError
		if err := s.SetPosition(ctx, bad.consumer, bad.account, bad.position); !errors.As(err, &qe) || qe.Param != bad.param {
			t.Errorf("SetPosition(%q, %q, %d) = %v, want a QueryError for %s", bad.consumer, bad.account, bad.position, err, bad.param)
		}
	}
	if got, _ := s.Position(ctx, "webhook", "acme"); got != 5 {
		t.Errorf("a refused SetPosition changed the position to %d", got)
	}

	s.Close()
	if _, err := s.Position(ctx, "webhook", "acme"); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("Position after Close = %v, want ErrClosed", err)
	}
	if err := s.SetPosition(ctx, "webhook", "acme", 1); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("SetPosition after Close = %v, want ErrClosed", err)
	}
}
