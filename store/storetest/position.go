package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// runPositions checks the [auditevents.Positions] contract when the store
// implements it: what the forward package's forwarder relies on to resume
// each sink where it stopped. That positions survive a reopen of the store
// is for the store's own tests to check: the suite has no way to reopen a
// store.
func runPositions(t *testing.T, newStore NewStore) {
	t.Helper()
	probe := newStore(t)
	_, ok := probe.(auditevents.Positions)
	probe.Close()
	if !ok {
		return
	}
	tests := []struct {
		name, contract string
		fn             func(t *testing.T, p auditevents.Positions, s auditevents.Store)
	}{
		{"PositionsUnknown", "a position never stored reads 0, the start of the log, for any consumer and account: a new sink starts at the first event", testPositionsUnknown},
		{"PositionsRoundTrip", "a stored position reads back as stored, overwrites the previous one, may move backwards, and is unchanged by appends and retention: a sink resumes exactly where it was acknowledged", testPositionsRoundTrip},
		{"PositionsIndependent", "each (consumer, account) has its own position: storing one changes no other, whatever the names share, or a sink would skip or repeat another account's events", testPositionsIndependent},
		{"PositionsInvalid", "an invalid consumer or a position outside [0, tree size] is refused with the *QueryError of auditevents.CheckPosition and changes nothing: a forwarder stops instead of skipping events", testPositionsInvalid},
		{"PositionsConcurrent", "positions stored and read at once by many goroutines (one route each) are safe and none is lost", testPositionsConcurrent},
		{"PositionsClosed", "after Close, Position and SetPosition return ErrClosed", testPositionsClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the contract: %s", tt.contract)
				}
			})
			tt.fn(t, s.(auditevents.Positions), s)
		})
	}
}

// appendTo appends n events to the account.
func appendTo(tb testing.TB, s auditevents.Store, g *Generator, account string, n int) {
	tb.Helper()
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		events[i] = event(g, base.Add(time.Duration(i)*time.Second))
		events[i].Account = account
	}
	appendAll(tb, s, events...)
}

// position is one consumer's position for one account.
type position struct {
	consumer, account string
	position          int64
}

func (p position) String() string {
	return fmt.Sprintf("(consumer %q, account %q)", p.consumer, p.account)
}

// setPosition stores p and fails the test on error.
func setPosition(tb testing.TB, ps auditevents.Positions, p position) {
	tb.Helper()
	if err := ps.SetPosition(context.Background(), p.consumer, p.account, p.position); err != nil {
		tb.Fatalf("SetPosition%s to %d: %v", p, p.position, err)
	}
}

// wantPositions fails the test unless each of want reads back as its
// position.
func wantPositions(tb testing.TB, ps auditevents.Positions, want ...position) {
	tb.Helper()
	for _, w := range want {
		got, err := ps.Position(context.Background(), w.consumer, w.account)
		if err != nil {
			tb.Errorf("Position%s: %v", w, err)
			continue
		}
		if got != w.position {
			tb.Errorf("Position%s = %d, want %d", w, got, w.position)
		}
	}
}

func testPositionsUnknown(t *testing.T, ps auditevents.Positions, s auditevents.Store) {
	wantPositions(t, ps, position{"webhook", "acme", 0}, position{"webhook", "", 0})
	appendTo(t, s, NewGenerator(50), "acme", 3)
	wantPositions(t, ps,
		position{"webhook", "acme", 0},
		position{"webhook", "nobody", 0},
		position{"webhook", "", 0},
		position{"x", "acme", 0},
		// Names Position never stored, even invalid ones, read 0.
		position{strings.Repeat("c", auditevents.MaxNameBytes), "acme", 0},
	)
}

func testPositionsRoundTrip(t *testing.T, ps auditevents.Positions, s auditevents.Store) {
	g := NewGenerator(51)
	appendTo(t, s, g, "acme", 5)
	appendTo(t, s, g, "", 3)
	for _, p := range []position{
		{"webhook", "acme", 4},
		{"webhook", "", 3},
		{"webhook", "acme", 5}, // forwards
		{"otlp", "acme", 1},
		{"otlp", "acme", 0}, // backwards, to send again
		{"otlp", "", 0},     // the documented zero, stored explicitly
	} {
		setPosition(t, ps, p)
	}
	want := []position{{"webhook", "acme", 5}, {"webhook", "", 3}, {"otlp", "acme", 0}, {"otlp", "", 0}}
	wantPositions(t, ps, want...)

	// The longest consumer, and names in any script, are names like others.
	long := strings.Repeat("ü", auditevents.MaxNameBytes/2)
	setPosition(t, ps, position{long, "acme", 2})
	setPosition(t, ps, position{"webhook ⇒ SIEM", "", 1})
	want = append(want, position{long, "acme", 2}, position{"webhook ⇒ SIEM", "", 1})
	wantPositions(t, ps, want...)

	// Appends and retention leave positions as they are; a position up to
	// the tree size stays valid after its events are pruned.
	appendTo(t, s, g, "acme", 4)
	if _, err := s.Prune(context.Background(), base.Add(24*time.Hour)); err != nil {
		t.Fatalf("Prune: %v", err)
	}
	wantPositions(t, ps, want...)
	setPosition(t, ps, position{"webhook", "acme", 9})
	wantPositions(t, ps, position{"webhook", "acme", 9})
}

func testPositionsIndependent(t *testing.T, ps auditevents.Positions, s auditevents.Store) {
	g := NewGenerator(52)
	// Names that share prefixes, and pairs whose concatenations are equal:
	// a store that keys a position by consumer+account, or by either alone,
	// mixes them up.
	accounts := []string{"", "acme", "acmeacme", "hookacme", "a"}
	consumers := []string{"webhook", "web", "webhookacme", "otlp", "a"}
	for i, a := range accounts {
		appendTo(t, s, g, a, 20+i)
	}
	var want []position
	n := int64(1)
	for _, c := range consumers {
		for _, a := range accounts {
			want = append(want, position{c, a, n})
			setPosition(t, ps, position{c, a, n})
			n = n%19 + 1
		}
	}
	wantPositions(t, ps, want...)
	// Moving one moves no other.
	setPosition(t, ps, position{"web", "hookacme", 0})
	for i, w := range want {
		if w.consumer == "web" && w.account == "hookacme" {
			want[i].position = 0
		}
	}
	wantPositions(t, ps, want...)
}

func testPositionsInvalid(t *testing.T, ps auditevents.Positions, s auditevents.Store) {
	ctx := context.Background()
	g := NewGenerator(53)
	appendTo(t, s, g, "acme", 5)
	setPosition(t, ps, position{"webhook", "acme", 2})
	for _, bad := range []struct {
		position
		param string
	}{
		{position{"", "acme", 1}, "consumer"},
		{position{strings.Repeat("c", auditevents.MaxNameBytes+1), "acme", 1}, "consumer"},
		{position{"web\x00hook", "acme", 1}, "consumer"},
		{position{"web\xffhook", "acme", 1}, "consumer"},
		{position{"webhook", "acme", -1}, "position"},
		{position{"webhook", "acme", 6}, "position"}, // beyond the tree size, 5
		{position{"webhook", "nobody", 1}, "position"},
	} {
		err := ps.SetPosition(ctx, bad.consumer, bad.account, bad.position.position)
		var qe *auditevents.QueryError
		if !errors.As(err, &qe) || qe.Param != bad.param || !errors.Is(err, auditevents.ErrInvalidQuery) {
			t.Errorf("SetPosition%s to %d = %v, want a *QueryError for %q, as auditevents.CheckPosition returns", bad.position, bad.position.position, err, bad.param)
			continue
		}
		if want := auditevents.CheckPosition(bad.consumer, bad.position.position, sizeOf(bad.account)); want != nil && err.Error() != want.Error() {
			t.Errorf("SetPosition%s to %d = %q, want CheckPosition's %q", bad.position, bad.position.position, err, want)
		}
	}
	// Nothing refused was stored.
	wantPositions(t, ps, position{"webhook", "acme", 2}, position{"webhook", "nobody", 0})
	// The bounds themselves are valid.
	setPosition(t, ps, position{"webhook", "acme", 5})
	setPosition(t, ps, position{"webhook", "nobody", 0})
	wantPositions(t, ps, position{"webhook", "acme", 5}, position{"webhook", "nobody", 0})
}

// sizeOf is the tree size of the accounts of testPositionsInvalid.
func sizeOf(account string) int64 {
	if account == "acme" {
		return 5
	}
	return 0
}

func testPositionsConcurrent(t *testing.T, ps auditevents.Positions, s auditevents.Store) {
	const routes, steps = 8, 40
	g := NewGenerator(54)
	appendTo(t, s, g, "acme", steps)
	appendTo(t, s, g, "globex", steps)
	var wg sync.WaitGroup
	errs := make(chan error, 2*routes)
	ctx := context.Background()
	for r := range routes {
		for _, account := range []string{"acme", "globex"} {
			wg.Go(func() {
				consumer := fmt.Sprintf("route-%d", r)
				for pos := int64(1); pos <= steps; pos++ {
					if err := ps.SetPosition(ctx, consumer, account, pos); err != nil {
						errs <- fmt.Errorf("SetPosition(%s, %s, %d): %w", consumer, account, pos, err)
						return
					}
					got, err := ps.Position(ctx, consumer, account)
					if err != nil || got != pos {
						errs <- fmt.Errorf("Position(%s, %s) = %d, %v right after storing %d", consumer, account, got, err, pos)
						return
					}
				}
			})
		}
	}
	// Appends go on meanwhile.
	appendTo(t, s, g, "acme", 10)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for r := range routes {
		wantPositions(t, ps, position{fmt.Sprintf("route-%d", r), "acme", steps}, position{fmt.Sprintf("route-%d", r), "globex", steps})
	}
}

func testPositionsClosed(t *testing.T, ps auditevents.Positions, s auditevents.Store) {
	ctx := context.Background()
	appendTo(t, s, NewGenerator(55), "acme", 2)
	setPosition(t, ps, position{"webhook", "acme", 1})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := ps.Position(ctx, "webhook", "acme"); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("Position after Close = %v, want ErrClosed", err)
	}
	if err := ps.SetPosition(ctx, "webhook", "acme", 2); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("SetPosition after Close = %v, want ErrClosed", err)
	}
}
