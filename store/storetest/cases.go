package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

func testRoundTrip(t *testing.T, s auditevents.Store) {
	g := NewGenerator(1)
	e := event(g, base)
	appendAll(t, s, e)
	got := query(t, s, auditevents.Query{})
	if len(got) != 1 {
		t.Fatalf("got %d events, want 1", len(got))
	}
	sameEvent(t, got[0], e)
	if loc := got[0].Timestamp.Location(); loc != time.UTC {
		t.Errorf("timestamp location %v, want UTC", loc)
	}
}

func testNormalization(t *testing.T, s auditevents.Store) {
	g := NewGenerator(2)
	e := event(g, time.Date(2025, 3, 14, 17, 9, 26, 123456789, time.FixedZone("CEST", 2*3600)))
	e.ID = strings.ToLower(e.ID)
	appendAll(t, s, e)
	got := query(t, s, auditevents.Query{})
	if len(got) != 1 {
		t.Fatalf("got %d events, want 1", len(got))
	}
	if got, want := got[0].ID, strings.ToUpper(e.ID); got != want {
		t.Errorf("ID %q, want canonical %q", got, want)
	}
	if got, want := got[0].Timestamp, time.Date(2025, 3, 14, 15, 9, 26, 123456000, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("timestamp %s, want %s (UTC, to the microsecond)", got.Format(time.RFC3339Nano), want.Format(time.RFC3339Nano))
	}
	// The upper-case form of a stored lower-case ID is the same ID.
	dup := event(g, base)
	dup.ID = strings.ToUpper(e.ID)
	wantDuplicate(t, s.Append(context.Background(), dup), dup.ID)
}

func testEmptyAppend(t *testing.T, s auditevents.Store) {
	if err := s.Append(context.Background()); err != nil {
		t.Errorf("Append() = %v, want nil", err)
	}
	if got := query(t, s, auditevents.Query{}); len(got) != 0 {
		t.Errorf("empty store returned %d events", len(got))
	}
}

func testValidation(t *testing.T, s auditevents.Store) {
	g := NewGenerator(3)
	valid := event(g, base)
	tests := []struct {
		name   string
		mutate func(*auditevents.AuditEvent)
		field  string
	}{
		{"malformed id", func(e *auditevents.AuditEvent) { e.ID = "not-a-ulid" }, "id"},
		{"empty id", func(e *auditevents.AuditEvent) { e.ID = "" }, "id"},
		{"zero timestamp", func(e *auditevents.AuditEvent) { e.Timestamp = time.Time{} }, "timestamp"},
		{"unknown kind", func(e *auditevents.AuditEvent) { e.ResourceKind = "Widget" }, "resourceKind"},
		{"empty kind", func(e *auditevents.AuditEvent) { e.ResourceKind = "" }, "resourceKind"},
		{"empty action", func(e *auditevents.AuditEvent) { e.Action = "" }, "action"},
		{"empty user", func(e *auditevents.AuditEvent) { e.User = "" }, "user"},
		{"invalid utf-8", func(e *auditevents.AuditEvent) { e.Description = "bad \xff byte" }, "description"},
		{"nul byte", func(e *auditevents.AuditEvent) { e.ResourceName = "a\x00b" }, "resourceName"},
		{"name too long", func(e *auditevents.AuditEvent) { e.Account = strings.Repeat("a", auditevents.MaxNameBytes+1) }, "account"},
		{"description too long", func(e *auditevents.AuditEvent) {
			e.Description = strings.Repeat("d", auditevents.MaxDescriptionBytes+1)
		}, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := event(g, base)
			tt.mutate(&bad)
			other := event(g, base.Add(time.Second))
			err := s.Append(context.Background(), other, bad)
			var ee *auditevents.EventError
			if !errors.As(err, &ee) || !errors.Is(err, auditevents.ErrInvalidEvent) {
				t.Fatalf("Append = %v, want an *EventError wrapping ErrInvalidEvent", err)
			}
			if got, want := ee.Field, tt.field; got != want {
				t.Errorf("EventError.Field = %q, want %q", got, want)
			}
			if got, want := ee.Index, 1; got != want {
				t.Errorf("EventError.Index = %d, want %d", got, want)
			}
			if got := query(t, s, auditevents.Query{}); len(got) != 0 {
				t.Errorf("after a rejected batch the store holds %d events, want 0", len(got))
			}
		})
	}
	appendAll(t, s, valid) // the store still works
}

func testDuplicateIDs(t *testing.T, s auditevents.Store) {
	g := NewGenerator(4)
	first := event(g, base)
	appendAll(t, s, first)

	t.Run("already stored", func(t *testing.T) {
		fresh := event(g, base.Add(time.Second))
		again := event(g, base.Add(2*time.Second))
		again.ID = first.ID
		err := s.Append(context.Background(), fresh, again)
		wantDuplicate(t, err, first.ID)
		sameIDs(t, "store after the rejected batch", query(t, s, auditevents.Query{}), []auditevents.AuditEvent{first})
	})
	t.Run("twice in one batch", func(t *testing.T) {
		a := event(g, base.Add(3*time.Second))
		b := a
		b.Timestamp = base.Add(4 * time.Second)
		wantDuplicate(t, s.Append(context.Background(), a, b), a.ID)
		sameIDs(t, "store after the rejected batch", query(t, s, auditevents.Query{}), []auditevents.AuditEvent{first})
	})
	t.Run("stored event unchanged", func(t *testing.T) {
		got := query(t, s, auditevents.Query{})
		if len(got) != 1 {
			t.Fatalf("got %d events, want 1", len(got))
		}
		sameEvent(t, got[0], first)
	})
}

// wantDuplicate fails unless err is a *DuplicateIDError for id, wrapping
// ErrDuplicateID.
func wantDuplicate(tb testing.TB, err error, id string) {
	tb.Helper()
	var dup *auditevents.DuplicateIDError
	if !errors.As(err, &dup) || !errors.Is(err, auditevents.ErrDuplicateID) {
		tb.Fatalf("Append = %v, want a *DuplicateIDError wrapping ErrDuplicateID", err)
	}
	if dup.ID != id {
		tb.Errorf("DuplicateIDError.ID = %q, want %q", dup.ID, id)
	}
}

func testOrder(t *testing.T, s auditevents.Store) {
	g := NewGenerator(5)
	var all []auditevents.AuditEvent
	// Five events share one timestamp: ties are broken by ID, descending.
	for i := range 20 {
		ts := base.Add(time.Duration(i%7) * time.Minute)
		if i%4 == 0 {
			ts = base.Add(3 * time.Minute)
		}
		all = append(all, event(g, ts))
	}
	rng := rand.New(rand.NewPCG(5, 5))
	shuffled := slices.Clone(all)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	appendAll(t, s, shuffled[:10]...)
	for _, e := range shuffled[10:] {
		appendAll(t, s, e)
	}
	sameIDs(t, "all events", query(t, s, auditevents.Query{}), expect(all, auditevents.Query{}))
}

func testOrderByTimestampNotID(t *testing.T, s auditevents.Store) {
	g := NewGenerator(6)
	// Imported events: IDs made now, timestamps from long ago, in reverse.
	var all []auditevents.AuditEvent
	for i := range 10 {
		all = append(all, event(g, base.AddDate(0, 0, -i)))
	}
	appendAll(t, s, all...)
	got := query(t, s, auditevents.Query{})
	sameIDs(t, "events whose ID time differs from their timestamp", got, expect(all, auditevents.Query{}))
	for i := 1; i < len(got); i++ {
		if got[i].Timestamp.After(got[i-1].Timestamp) {
			t.Fatalf("event %d (%s) is newer than event %d (%s)", i, got[i].Timestamp, i-1, got[i-1].Timestamp)
		}
	}
}

// corpus returns a varied set of events over ten days.
func corpus(g *Generator, n int) []auditevents.AuditEvent {
	users := []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	accounts := []string{"", "acme", "globex"}
	configs := []string{"", "nginx", "nginx:1", "nginx:2", "nginx:12", "nginx-edge:1", "redis:3", "redis"}
	kinds := []auditevents.Kind{auditevents.KindConfiguration, auditevents.KindRollout, auditevents.KindUser, auditevents.KindAPIKey}
	actions := []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted, auditevents.ActionStarted}
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		e := event(g, base.Add(time.Duration(g.rng.IntN(10*24*3600))*time.Second).Add(time.Duration(g.rng.IntN(1000))*time.Microsecond))
		e.User = users[g.rng.IntN(len(users))]
		e.Account = accounts[g.rng.IntN(len(accounts))]
		e.Configuration = configs[g.rng.IntN(len(configs))]
		e.ResourceKind = kinds[g.rng.IntN(len(kinds))]
		e.Action = actions[g.rng.IntN(len(actions))]
		e.ResourceName = fmt.Sprintf("res-%d", g.rng.IntN(5))
		events[i] = e
	}
	return events
}

func testFilters(t *testing.T, s auditevents.Store) {
	g := NewGenerator(7)
	all := corpus(g, 600)
	appendAll(t, s, all...)
	acme, none := "acme", ""
	day := base.Add(48 * time.Hour)
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"everything", auditevents.Query{}},
		{"user", auditevents.Query{User: "bob@example.com"}},
		{"unknown user", auditevents.Query{User: "mallory@example.com"}},
		{"configuration", auditevents.Query{Configuration: "nginx"}},
		{"configuration version", auditevents.Query{Configuration: "nginx:2"}},
		{"kind", auditevents.Query{ResourceKind: auditevents.KindRollout}},
		{"resource name", auditevents.Query{ResourceName: "res-3"}},
		{"action", auditevents.Query{Action: auditevents.ActionDeleted}},
		{"since", auditevents.Query{Since: day}},
		{"before", auditevents.Query{Before: day}},
		{"one day", auditevents.Query{Since: day, Before: day.Add(24 * time.Hour)}},
		{"account", auditevents.Query{Account: &acme}},
		{"empty account", auditevents.Query{Account: &none}},
		{"user and configuration", auditevents.Query{User: "alice@example.com", Configuration: "redis"}},
		{"user, configuration version and day", auditevents.Query{User: "carol@example.com", Configuration: "nginx:1", Since: day, Before: day.Add(72 * time.Hour)}},
		{"account, kind and action", auditevents.Query{Account: &acme, ResourceKind: auditevents.KindUser, Action: auditevents.ActionCreated}},
		{"every filter", auditevents.Query{Account: &acme, User: "alice@example.com", Configuration: "nginx", ResourceKind: auditevents.KindConfiguration, ResourceName: "res-1", Action: auditevents.ActionModified, Since: base, Before: base.Add(240 * time.Hour)}},
		{"empty range", auditevents.Query{Since: day, Before: day}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sameResult(t, s, all, tt.q) })
	}
}

// sameResult fails unless s answers q with the model's result over all,
// event for event.
func sameResult(tb testing.TB, s auditevents.Store, all []auditevents.AuditEvent, q auditevents.Query) {
	tb.Helper()
	want := expect(all, q)
	got := query(tb, s, q)
	sameIDs(tb, "result", got, want)
	if slices.Equal(ids(got), ids(want)) {
		for i := range got {
			sameEvent(tb, got[i], want[i])
		}
	}
}

func testConfiguration(t *testing.T, s auditevents.Store) {
	g := NewGenerator(8)
	events := map[string]auditevents.AuditEvent{}
	for i, c := range []string{"myconfig", "myconfig:1", "myconfig:3", "myconfig:30", "myconfig-2:3", "myconfigx", "other:3", "a:b", "a:b:3", "edge:", "edge:v2", ""} {
		e := event(g, base.Add(time.Duration(i)*time.Second))
		e.Configuration = c
		events[c] = e
		appendAll(t, s, e)
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"myconfig", []string{"myconfig", "myconfig:1", "myconfig:3", "myconfig:30"}},
		{"myconfig:3", []string{"myconfig:3"}},
		{"myconfig:30", []string{"myconfig:30"}},
		{"myconfig:4", nil},
		{"myconf", nil},
		{"a:b", []string{"a:b", "a:b:3"}},
		{"a:b:3", []string{"a:b:3"}},
		{"a", nil},
		// Only a colon followed by digits is a version.
		{"edge:", []string{"edge:"}},
		{"edge:v2", []string{"edge:v2"}},
		{"edge", nil},
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			sameIDs(t, "configuration-name="+tt.filter, query(t, s, auditevents.Query{Configuration: tt.filter}), named(events, tt.want))
		})
	}
}

// named returns the events of byName with the given names, in result
// order: the expectation of a case that lists its answer by hand.
func named(byName map[string]auditevents.AuditEvent, names []string) []auditevents.AuditEvent {
	var out []auditevents.AuditEvent
	for _, n := range names {
		out = append(out, byName[n])
	}
	sortResult(out)
	return out
}

func testDateBounds(t *testing.T, s auditevents.Store) {
	g := NewGenerator(9)
	at := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	times := map[string]time.Time{
		"previous second end": at.Add(-time.Microsecond),
		"second start":        at,
		"one µs in":           at.Add(time.Microsecond),
		"second end":          at.Add(time.Second - time.Microsecond),
		"next second":         at.Add(time.Second),
	}
	events := map[string]auditevents.AuditEvent{}
	for name, ts := range times {
		events[name] = event(g, ts)
		appendAll(t, s, events[name])
	}
	parse := func(tb testing.TB, raw string) auditevents.Query {
		tb.Helper()
		q, err := auditevents.ParseQuery(map[string][]string{"min-date": {raw}, "max-date": {raw}})
		if err != nil {
			tb.Fatal(err)
		}
		return q
	}
	tests := []struct {
		name string
		q    auditevents.Query
		want []string
	}{
		{"since is inclusive", auditevents.Query{Since: at}, []string{"second start", "one µs in", "second end", "next second"}},
		{"before is exclusive", auditevents.Query{Before: at}, []string{"previous second end"}},
		{"since to the microsecond", auditevents.Query{Since: at.Add(time.Microsecond)}, []string{"one µs in", "second end", "next second"}},
		{"exact instant", auditevents.Query{Since: at, Before: at.Add(time.Microsecond)}, []string{"second start"}},
		{"min-date=max-date=one second", parse(t, "20250101120000"), []string{"second start", "one µs in", "second end"}},
		{"collector format, one microsecond", parse(t, "2025-01-01 12:00:00.000001+00"), []string{"one µs in"}},
		{"RFC 3339 with offset", parse(t, "2025-01-01T13:00:00+01:00"), []string{"second start", "one µs in", "second end"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sameIDs(t, tt.name, query(t, s, tt.q), named(events, tt.want))
		})
	}
}

func testAccountScope(t *testing.T, s auditevents.Store) {
	g := NewGenerator(10)
	var all []auditevents.AuditEvent
	for i, acct := range []string{"acme", "globex", "", "acme", "globex", ""} {
		e := event(g, base.Add(time.Duration(i)*time.Second))
		e.Account = acct
		all = append(all, e)
	}
	appendAll(t, s, all...)
	for _, acct := range []string{"acme", "globex", "", "initech"} {
		t.Run(fmt.Sprintf("account %q", acct), func(t *testing.T) {
			// No other filter widens the scope.
			for _, q := range []auditevents.Query{{}, {User: "alice@example.com"}, {Configuration: "nginx"}} {
				q = q.InAccount(acct)
				got := query(t, s, q)
				for _, e := range got {
					if e.Account != acct {
						t.Errorf("query scoped to %q returned event %s of account %q", acct, e.ID, e.Account)
					}
				}
				sameIDs(t, "scoped query", got, expect(all, q))
			}
		})
	}
	sameIDs(t, "unscoped query", query(t, s, auditevents.Query{}), expect(all, auditevents.Query{}))
}

// testSparseMatches hides a few matches among many events that no index
// can skip, so that a store reading in chunks must carry its position
// exactly from one chunk to the next.
func testSparseMatches(t *testing.T, s auditevents.Store) {
	g := NewGenerator(21)
	const n = 12000
	all := make([]auditevents.AuditEvent, n)
	// Each event's resource name puts it in one of 17 classes. Whatever
	// position a store resumes a chunk from, a query for one of the
	// classes matches the event there, so an event skipped or repeated at
	// a chunk boundary shows up below.
	const classes = 17
	for i := range all {
		all[i] = event(g, base.Add(time.Duration(i)*time.Second))
		all[i].ResourceName = fmt.Sprintf("class-%d", i%classes)
	}
	// Matches at chunk-size boundaries of common sizes, and at random.
	spots := []int{0, 1, 255, 256, 257, 999, 1000, 1001, 1023, 1024, 1025, 4095, 4096, 4097, 8191, 8192, 8193, n - 1}
	for range 30 {
		spots = append(spots, g.rng.IntN(n))
	}
	for _, i := range spots {
		all[i].Action = auditevents.ActionDeleted
		all[i].ResourceKind = auditevents.KindRollout
		all[i].Description = "needle"
	}
	for i := 0; i < n; i += 1000 {
		appendAll(t, s, all[i:i+1000]...)
	}
	acme := "acme"
	for _, q := range []auditevents.Query{
		{Action: auditevents.ActionDeleted},
		{ResourceKind: auditevents.KindRollout},
		{ResourceKind: auditevents.KindRollout, Since: base.Add(100 * time.Second)},
		{Action: auditevents.ActionDeleted, User: "alice@example.com", Account: &acme},
		{Action: auditevents.ActionDeleted, Configuration: "nginx"},
	} {
		sameIDs(t, "sparse "+describe(q), query(t, s, q), expect(all, q))
		sameIDs(t, "sparse "+describe(q)+" in pages of 3", pages(t, s, q, 3, nil), expect(all, q))
	}
	for c := range classes {
		q := auditevents.Query{ResourceName: fmt.Sprintf("class-%d", c)}
		sameIDs(t, fmt.Sprintf("resource name class-%d", c), query(t, s, q), expect(all, q))
	}
	// Every event, in pages that end and resume anywhere.
	sameIDs(t, "all events in pages of 997", pages(t, s, auditevents.Query{}, 997, nil), expect(all, auditevents.Query{}))
}

func testLimit(t *testing.T, s auditevents.Store) {
	g := NewGenerator(11)
	all := corpus(g, 50)
	appendAll(t, s, all...)
	for _, limit := range []int{1, 7, 50, 51, 1000} {
		for _, q := range []auditevents.Query{{Limit: limit}, {Limit: limit, User: "alice@example.com"}} {
			sameIDs(t, fmt.Sprintf("limit %d", limit), query(t, s, q), expect(all, q))
		}
	}
}

func testCursorPages(t *testing.T, s auditevents.Store) {
	g := NewGenerator(12)
	all := corpus(g, 300)
	// Ties across page boundaries: many events share a timestamp.
	for i := range 40 {
		e := event(g, base.Add(5*time.Hour))
		e.User = []string{"alice@example.com", "bob@example.com"}[i%2]
		all = append(all, e)
	}
	appendAll(t, s, all...)
	for _, pageSize := range []int{1, 7, 100} {
		for _, q := range []auditevents.Query{{}, {User: "bob@example.com"}, {Configuration: "nginx", Since: base.Add(24 * time.Hour)}} {
			got := pages(t, s, q, pageSize, nil)
			sameIDs(t, fmt.Sprintf("pages of %d for %s", pageSize, describe(q)), got, expect(all, q))
		}
	}
	// A cursor whose event is gone still marks a position.
	want := expect(all, auditevents.Query{})
	gone := auditevents.Cursor{Timestamp: want[10].Timestamp, ID: strings.Repeat("0", 25) + "1"}
	sameIDs(t, "query after a cursor of no stored event", query(t, s, auditevents.Query{After: gone}), expect(all, auditevents.Query{After: gone}))
}

func testCursorAppendsBetweenPages(t *testing.T, s auditevents.Store) {
	g := NewGenerator(13)
	all := corpus(g, 200)
	appendAll(t, s, all...)
	q := auditevents.Query{}
	want := expect(all, q)
	got := pages(t, s, q, 15, func(page int) {
		// Newer events, older events, and events at the page boundary
		// arrive between pages.
		newer := event(g, base.Add(30*24*time.Hour))
		older := event(g, base.Add(-30*24*time.Hour))
		appendAll(t, s, newer, older)
		all = append(all, newer, older)
	})
	// Every original event appears exactly once, in order, with the older
	// arrivals (which sort after every page read) at the end.
	seen := map[string]int{}
	for _, e := range got {
		seen[e.ID]++
	}
	for _, e := range want {
		if seen[e.ID] != 1 {
			t.Errorf("event %s seen %d times across pages, want once", e.ID, seen[e.ID])
		}
	}
	var originals []auditevents.AuditEvent
	for _, e := range got {
		if slices.ContainsFunc(want, func(w auditevents.AuditEvent) bool { return w.ID == e.ID }) {
			originals = append(originals, e)
		}
	}
	sameIDs(t, "original events across pages", originals, want)
	for i := 1; i < len(got); i++ {
		if !newerFirst(got[i-1], got[i]) {
			t.Fatalf("pages out of order at %d: %s then %s", i, got[i-1].ID, got[i].ID)
		}
	}
}

func testInvalidQuery(t *testing.T, s auditevents.Store) {
	appendAll(t, s, event(NewGenerator(14), base))
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"negative limit", auditevents.Query{Limit: -1}},
		{"unknown kind", auditevents.Query{ResourceKind: "Widget"}},
		{"since after before", auditevents.Query{Since: base, Before: base.Add(-time.Second)}},
		{"malformed cursor", auditevents.Query{After: auditevents.Cursor{Timestamp: base, ID: "nope"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auditevents.Collect(s.Query(context.Background(), tt.q))
			if !errors.Is(err, auditevents.ErrInvalidQuery) {
				t.Errorf("Query = %v, want ErrInvalidQuery", err)
			}
			if len(got) != 0 {
				t.Errorf("an invalid query returned %d events", len(got))
			}
		})
	}
}

func testPrune(t *testing.T, s auditevents.Store) {
	g := NewGenerator(15)
	all := corpus(g, 400)
	cut := base.Add(4 * 24 * time.Hour)
	atCut := event(g, cut)
	atCut.User = "bob@example.com"
	justBefore := event(g, cut.Add(-time.Microsecond))
	justBefore.User = "bob@example.com"
	all = append(all, atCut, justBefore)
	appendAll(t, s, all...)

	var wantGone int
	var kept []auditevents.AuditEvent
	for _, e := range all {
		if e.Timestamp.Before(cut) {
			wantGone++
		} else {
			kept = append(kept, e)
		}
	}
	n, err := s.Prune(context.Background(), cut)
	if err != nil {
		t.Fatalf("Prune: %v", err)
	}
	if n != wantGone {
		t.Errorf("Prune returned %d, want %d", n, wantGone)
	}
	acme := "acme"
	for _, q := range []auditevents.Query{{}, {User: "bob@example.com"}, {Configuration: "nginx"}, {Account: &acme}, {Before: cut}} {
		sameIDs(t, "after prune, "+describe(q), query(t, s, q), expect(kept, q))
	}
	if n, err := s.Prune(context.Background(), cut); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0, nil", n, err)
	}
	// The store keeps accepting events.
	appendAll(t, s, event(g, cut.Add(time.Hour)))
}

func testCancellation(t *testing.T, s auditevents.Store) {
	g := NewGenerator(16)
	appendAll(t, s, corpus(g, 3000)...)

	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Query with a cancelled context = %v, want context.Canceled", err)
		}
		if len(got) > 0 {
			t.Errorf("Query with a cancelled context returned %d events", len(got))
		}
		if err := s.Append(ctx, event(g, base)); !errors.Is(err, context.Canceled) {
			t.Errorf("Append with a cancelled context = %v, want context.Canceled", err)
		}
		if _, err := s.Prune(ctx, base); !errors.Is(err, context.Canceled) {
			t.Errorf("Prune with a cancelled context = %v, want context.Canceled", err)
		}
	})
	t.Run("cancelled while running", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// Stores check the context between chunks of events; a prompt stop
		// reads well under the 3,000 events there are.
		const promptly = 2048
		n := 0
		var err error
		for _, e := range s.Query(ctx, auditevents.Query{}) {
			if e != nil {
				err = e
				break
			}
			n++
			if n == 10 {
				cancel()
			}
			if n > promptly {
				break
			}
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after cancel, the query ended with %v after %d events, want context.Canceled within %d", err, n, promptly)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, 0))
		defer cancel()
		_, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Query past its deadline = %v, want context.DeadlineExceeded", err)
		}
	})
}

func testBreakAndReenter(t *testing.T, s auditevents.Store) {
	g := NewGenerator(17)
	all := corpus(g, 1200)
	appendAll(t, s, all...)
	// Breaking early releases the store.
	for range s.Query(context.Background(), auditevents.Query{}) {
		break
	}
	// The loop body may call the store: copy every event of one user into
	// new events, appended while the query runs.
	q := auditevents.Query{User: "alice@example.com"}
	want := expect(all, q)
	n := 0
	for e, err := range s.Query(context.Background(), q) {
		if err != nil {
			t.Fatalf("Query: %v", err)
		}
		copyOf := event(g, e.Timestamp.Add(-365*24*time.Hour)) // sorts after the query's range
		copyOf.User = "copy@example.com"
		if err := s.Append(context.Background(), copyOf); err != nil {
			t.Fatalf("Append inside the loop: %v", err)
		}
		if _, err := s.Prune(context.Background(), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("Prune inside the loop: %v", err)
		}
		n++
	}
	if n != len(want) {
		t.Errorf("query with appends in its loop read %d events, want %d", n, len(want))
	}
	if got := query(t, s, auditevents.Query{User: "copy@example.com"}); len(got) != len(want) {
		t.Errorf("%d copies stored, want %d", len(got), len(want))
	}
}

// largeResult is how many events testLargeResult streams, and heapBound
// how much the heap may grow while it does: a store that holds the whole
// result (at least 152 bytes an event for the AuditEvent values alone, over
// 9 MB) fails, while one that holds a few chunks of a few hundred or
// thousand events passes.
const (
	largeResult = 60000
	heapBound   = 4 << 20
)

func testLargeResult(t *testing.T, s auditevents.Store) {
	g := NewGenerator(18)
	// Descriptions of 256 bytes, as a store reading from disk or a network
	// allocates them for each event it holds.
	description := strings.Repeat("Changed labels: env=prod, team=platform; ", 7)[:256]
	batch := make([]auditevents.AuditEvent, 0, 2000)
	for i := range largeResult {
		e := event(g, base.Add(time.Duration(i)*time.Millisecond))
		e.Description = description
		batch = append(batch, e)
		if len(batch) == cap(batch) {
			appendAll(t, s, batch...)
			batch = batch[:0]
		}
	}

	var ms runtime.MemStats
	heap := func() uint64 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	var peak uint64
	count := 0
	var prev auditevents.AuditEvent
	for e, err := range s.Query(context.Background(), auditevents.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		if count > 0 && !newerFirst(prev, e) {
			t.Fatalf("event %d (%s) is out of order after %s", count, eventString(e), eventString(prev))
		}
		prev = e
		count++
		if count%(largeResult/8) == largeResult/16 {
			peak = max(peak, heap())
		}
	}
	if count != largeResult {
		t.Errorf("streamed %d events, want %d", count, largeResult)
	}
	var growth uint64
	if peak > before {
		growth = peak - before
	}
	t.Logf("the heap grew by %d KiB while %d events streamed (bound %d KiB)", growth>>10, largeResult, heapBound>>10)
	if growth > heapBound {
		t.Errorf("the heap grew by %d KiB while %d events streamed, want at most %d KiB: the query holds more than a few chunks of its result",
			growth>>10, largeResult, heapBound>>10)
	}
}

func testConcurrency(t *testing.T, s auditevents.Store) {
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter+writers)
	idsByWriter := make([][]string, writers)
	for w := range writers {
		g := NewGenerator(uint64(100 + w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				e := event(g, base.Add(time.Duration(w*perWriter+i)*time.Millisecond))
				e.User = fmt.Sprintf("writer-%d", w)
				if err := s.Append(context.Background(), e); err != nil {
					errs <- err
					return
				}
				idsByWriter[w] = append(idsByWriter[w], e.ID)
			}
		}()
	}
	for r := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				var prev auditevents.AuditEvent
				first := true
				for e, err := range s.Query(context.Background(), auditevents.Query{User: fmt.Sprintf("writer-%d", r)}) {
					if err != nil {
						errs <- err
						return
					}
					if !first && !newerFirst(prev, e) {
						errs <- fmt.Errorf("concurrent query returned %s after %s", e.ID, prev.ID)
						return
					}
					prev, first = e, false
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := query(t, s, auditevents.Query{})
	if len(got) != writers*perWriter {
		t.Errorf("after concurrent appends the store holds %d events, want %d", len(got), writers*perWriter)
	}
	for w, want := range idsByWriter {
		q := auditevents.Query{User: fmt.Sprintf("writer-%d", w)}
		gotIDs := ids(query(t, s, q))
		slices.Reverse(gotIDs) // appended oldest first
		if !slices.Equal(gotIDs, want) {
			t.Errorf("writer %d: stored %d events, want %d in append order", w, len(gotIDs), len(want))
		}
	}
}

func testValues(t *testing.T, s auditevents.Store) {
	g := NewGenerator(19)
	longName := strings.Repeat("ø∑≈", auditevents.MaxNameBytes/len("ø∑≈"))
	tests := []struct {
		name   string
		mutate func(*auditevents.AuditEvent)
	}{
		{"empty optional fields", func(e *auditevents.AuditEvent) {
			e.Account, e.ResourceName, e.Configuration, e.Description = "", "", "", ""
		}},
		{"unicode", func(e *auditevents.AuditEvent) {
			e.User = "zoë@例え.jp"
			e.ResourceName = "конфиг 🚀"
			e.Configuration = "설정:7"
			e.Description = "تغيير \u2028 line\nbreak \"quoted\", comma"
			e.Account = "Ωmega"
		}},
		{"very long values", func(e *auditevents.AuditEvent) {
			e.Description = strings.Repeat("ø∑≈ ", auditevents.MaxDescriptionBytes/len("ø∑≈ "))
			e.ResourceName = longName
			e.User = strings.Repeat("u", auditevents.MaxNameBytes)
			e.Account = strings.Repeat("a", auditevents.MaxNameBytes)
			e.Configuration = strings.Repeat("c", auditevents.MaxNameBytes-2) + ":9"
		}},
		{"formula-looking and control characters", func(e *auditevents.AuditEvent) {
			e.Description = "=HYPERLINK(\"http://x\")\t\r\n"
			e.ResourceName = "+1"
			e.Action = "@custom-action"
		}},
		{"every kind", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.mutate == nil {
				var batch []auditevents.AuditEvent
				for j, k := range auditevents.Kinds() {
					e := event(g, base.Add(time.Duration(100*i+j)*time.Hour))
					e.ResourceKind = k
					batch = append(batch, e)
				}
				appendAll(t, s, batch...)
				for _, e := range batch {
					got := query(t, s, auditevents.Query{ResourceKind: e.ResourceKind, Since: e.Timestamp, Before: e.Timestamp.Add(time.Microsecond)})
					if len(got) != 1 {
						t.Fatalf("kind %s: got %d events, want 1", e.ResourceKind, len(got))
					}
					sameEvent(t, got[0], e)
				}
				return
			}
			e := event(g, base.Add(time.Duration(100*i)*time.Hour))
			tt.mutate(&e)
			appendAll(t, s, e)
			got := query(t, s, auditevents.Query{Since: e.Timestamp, Before: e.Timestamp.Add(time.Microsecond)})
			if len(got) != 1 {
				t.Fatalf("got %d events, want 1", len(got))
			}
			sameEvent(t, got[0], e)
			if e.User != "" {
				if got := query(t, s, auditevents.Query{User: e.User, Configuration: e.Configuration}); len(got) != 1 {
					t.Errorf("filtering on the stored values found %d events, want 1", len(got))
				}
			}
		})
	}
}

func testClosed(t *testing.T, s auditevents.Store) {
	g := NewGenerator(20)
	appendAll(t, s, event(g, base))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Append(context.Background(), event(g, base)); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := auditevents.Collect(s.Query(context.Background(), auditevents.Query{})); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("Query after Close = %v, want ErrClosed", err)
	}
	if _, err := s.Prune(context.Background(), base); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("Prune after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func testRealisticData(t *testing.T, s auditevents.Store) {
	g := NewGenerator(22)
	all := g.Events(3000)
	// Appended in batches of varied sizes, the newest batch first.
	for end := len(all); end > 0; {
		n := min(end, 1+g.rng.IntN(500))
		appendAll(t, s, all[end-n:end]...)
		end -= n
	}
	// Queries on values that occur, taken from events spread over the data.
	var qs []auditevents.Query
	for i := 0; i < len(all); i += 331 {
		e := all[i]
		name, _ := cutVersion(e.Configuration)
		month := e.Timestamp.AddDate(0, -1, 0)
		acct := e.Account
		qs = append(qs,
			auditevents.Query{User: e.User},
			auditevents.Query{Configuration: e.Configuration},
			auditevents.Query{Configuration: name},
			auditevents.Query{ResourceKind: e.ResourceKind, Action: e.Action},
			auditevents.Query{ResourceName: e.ResourceName, Since: month},
			auditevents.Query{Account: &acct, User: e.User, Before: e.Timestamp},
			auditevents.Query{Account: &acct, Since: month, Before: e.Timestamp.Add(time.Microsecond), Limit: 25},
			auditevents.Query{Since: e.Timestamp, Before: e.Timestamp.Add(time.Microsecond)}, // the events of one instant
		)
	}
	for _, q := range qs {
		sameIDs(t, describe(q), query(t, s, q), expect(all, q))
	}
	sameIDs(t, "every event in pages of 128", pages(t, s, auditevents.Query{}, 128, nil), expect(all, auditevents.Query{}))
}

// testAccountScopeWithCursor pages through one account's events while other
// accounts' events lie between them in result order, so that a store which
// drops the scope on any page shows another account's events.
func testAccountScopeWithCursor(t *testing.T, s auditevents.Store) {
	g := NewGenerator(23)
	accounts := []string{"acme", "globex", ""}
	var all []auditevents.AuditEvent
	for i := range 300 {
		e := event(g, base.Add(time.Duration(i/2)*time.Second)) // pairs share a timestamp
		e.Account = accounts[i%len(accounts)]
		all = append(all, e)
	}
	appendAll(t, s, all...)
	for _, acct := range accounts {
		for _, q := range []auditevents.Query{{}, {User: "alice@example.com"}, {Configuration: "nginx", Since: base.Add(time.Minute)}} {
			q = q.InAccount(acct)
			for _, size := range []int{1, 7, 50} {
				got := pages(t, s, q, size, nil)
				for _, e := range got {
					if e.Account != acct {
						t.Fatalf("pages of %d of %s returned %s", size, describe(q), eventString(e))
					}
				}
				sameIDs(t, fmt.Sprintf("pages of %d of %s", size, describe(q)), got, expect(all, q))
			}
		}
	}
}

// stopAfter is a context whose Err starts to report cancellation from its
// n+1st call on (and whose Done channel closes then), so that a Prune
// working in steps is stopped after a few of them.
type stopAfter struct {
	context.Context
	cancel context.CancelFunc
	calls  atomic.Int64
	n      int64
}

func (c *stopAfter) Err() error {
	if c.calls.Add(1) > c.n {
		c.cancel()
	}
	return c.Context.Err()
}

func testPruneStopped(t *testing.T, s auditevents.Store) {
	g := NewGenerator(24)
	const old = 25000 // more than one step of the stores of this module
	cut := base.Add(time.Duration(old) * time.Millisecond)
	batch := make([]auditevents.AuditEvent, 0, 5000)
	for i := range old + 100 {
		batch = append(batch, event(g, base.Add(time.Duration(i)*time.Millisecond)))
		if len(batch) == cap(batch) || i == old+99 {
			appendAll(t, s, batch...)
			batch = batch[:0]
		}
	}
	count := func() int { return len(query(t, s, auditevents.Query{Before: cut})) }
	left := old
	// Stopped after 1 to 8 looks at the context, then run to the end.
	for _, stop := range []int64{1, 2, 3, 5, 8, 1 << 62} {
		ctx, cancel := context.WithCancel(context.Background())
		n, err := s.Prune(&stopAfter{Context: ctx, cancel: cancel, n: stop}, cut)
		cancel()
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Prune stopped after %d looks at its context: %v, want nil or context.Canceled", stop, err)
		}
		now := count()
		if gone := left - now; n != gone {
			t.Fatalf("Prune stopped after %d looks at its context returned %d (error %v), but %d events are gone", stop, n, err, gone)
		}
		if err == nil && now != 0 {
			t.Fatalf("Prune returned no error with %d events before its time left", now)
		}
		left = now
	}
	if got := len(query(t, s, auditevents.Query{})); got != 100 {
		t.Errorf("after pruning, %d events are left, want the 100 newer ones", got)
	}
}

func testPrunedIDs(t *testing.T, s auditevents.Store) {
	g := NewGenerator(25)
	old := event(g, base)
	kept := event(g, base.Add(time.Hour))
	appendAll(t, s, old, kept)
	if n, err := s.Prune(context.Background(), base.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1, nil", n, err)
	}
	if err := s.Append(context.Background(), old); err != nil {
		t.Fatalf("appending a pruned event again: %v, want nil", err)
	}
	sameIDs(t, "after appending the pruned event again", query(t, s, auditevents.Query{}), expect([]auditevents.AuditEvent{old, kept}, auditevents.Query{}))
	wantDuplicate(t, s.Append(context.Background(), kept), kept.ID)
}
