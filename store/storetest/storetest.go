// Package storetest is the conformance suite for [auditevents.Store]
// implementations. Every store in this module passes it, and a third party's
// store runs the same suite in three lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(tb testing.TB) auditevents.Store { return mystore.New() })
//	}
//
// The suite checks the whole contract of the Store interface: every filter
// alone and combined, inclusive and exclusive bounds to the microsecond,
// configuration versions, result order and ties, limit and cursor (with
// appends between pages), account isolation, duplicate IDs and batch
// atomicity, validation, retention, cancellation, concurrent appends and
// queries (run it with -race), unicode, empty and very long values, and use
// after Close. A store that implements [auditevents.Ledger] is also checked
// for its sequences, its Merkle tree, its proofs and its retention.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/oklog/ulid/v2"
)

// NewStore returns a new, empty store for one subtest. The suite closes it
// when the subtest ends; register anything else to release (a temporary
// file, a database schema) with tb.Cleanup.
type NewStore func(tb testing.TB) auditevents.Store

// Run runs the conformance suite against stores made by newStore, each
// subtest with a fresh store.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s auditevents.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Normalization", testNormalization},
		{"EmptyAppend", testEmptyAppend},
		{"Validation", testValidation},
		{"DuplicateIDs", testDuplicateIDs},
		{"Order", testOrder},
		{"OrderByTimestampNotID", testOrderByTimestampNotID},
		{"Filters", testFilters},
		{"Configuration", testConfiguration},
		{"DateBounds", testDateBounds},
		{"AccountScope", testAccountScope},
		{"SparseMatches", testSparseMatches},
		{"Limit", testLimit},
		{"CursorPages", testCursorPages},
		{"CursorWithAppendsBetweenPages", testCursorAppendsBetweenPages},
		{"InvalidQuery", testInvalidQuery},
		{"Prune", testPrune},
		{"Cancellation", testCancellation},
		{"BreakAndReenter", testBreakAndReenter},
		{"LargeResult", testLargeResult},
		{"Concurrency", testConcurrency},
		{"Values", testValues},
		{"Closed", testClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
	runLedger(t, newStore)
}

// base is the time the suite's events are placed around: a fixed date, so
// that nothing depends on the wall clock.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// gen makes events with deterministic, strictly increasing IDs.
type gen struct {
	rng *rand.Rand
	ms  uint64
	seq uint64
}

func newGen(seed uint64) *gen {
	return &gen{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ms: ulid.Timestamp(base)}
}

// id returns a new ULID, greater than every one before it.
func (g *gen) id() string {
	g.seq++
	var u ulid.ULID
	if err := u.SetTime(g.ms); err != nil {
		panic(err)
	}
	e := u.Entropy()
	for i := range e[:8] {
		e[i] = byte(g.rng.Uint32())
	}
	e[8], e[9] = byte(g.seq>>8), byte(g.seq)
	if err := u.SetEntropy(e); err != nil {
		panic(err)
	}
	g.ms++
	return u.String()
}

// event returns a valid event at t with a new ID.
func (g *gen) event(t time.Time) auditevents.AuditEvent {
	return auditevents.AuditEvent{
		ID:            g.id(),
		Timestamp:     t,
		Account:       "acme",
		User:          "alice@example.com",
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "nginx",
		Configuration: "nginx:3",
		Description:   "Configuration nginx modified",
	}
}

func appendAll(tb testing.TB, s auditevents.Store, events ...auditevents.AuditEvent) {
	tb.Helper()
	if err := s.Append(context.Background(), events...); err != nil {
		tb.Fatalf("Append(%d events): %v", len(events), err)
	}
}

func query(tb testing.TB, s auditevents.Store, q auditevents.Query) []auditevents.AuditEvent {
	tb.Helper()
	got, err := auditevents.Collect(s.Query(context.Background(), q))
	if err != nil {
		tb.Fatalf("Query(%+v): %v", q, err)
	}
	return got
}

// expect returns the events of all that match q, in result order, as a
// correct store returns them.
func expect(all []auditevents.AuditEvent, q auditevents.Query) []auditevents.AuditEvent {
	var out []auditevents.AuditEvent
	for _, e := range all {
		e = auditevents.Normalize(e)
		if q.Matches(&e) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, auditevents.Compare)
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

func ids(events []auditevents.AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// sameIDs fails unless got holds exactly the IDs of want, in order.
func sameIDs(tb testing.TB, what string, got, want []auditevents.AuditEvent) {
	tb.Helper()
	g, w := ids(got), ids(want)
	if !slices.Equal(g, w) {
		tb.Errorf("%s: got %d events %v, want %d events %v", what, len(g), clip(g), len(w), clip(w))
	}
}

func clip(s []string) []string {
	if len(s) > 8 {
		return append(slices.Clip(s[:8]), fmt.Sprintf("… %d more", len(s)-8))
	}
	return s
}

// sameEvent fails unless got equals want field by field, timestamps compared
// as instants.
func sameEvent(tb testing.TB, got, want auditevents.AuditEvent) {
	tb.Helper()
	if !got.Timestamp.Equal(want.Timestamp) {
		tb.Errorf("event %s: timestamp %s, want %s", want.ID, got.Timestamp.Format(time.RFC3339Nano), want.Timestamp.Format(time.RFC3339Nano))
	}
	got.Timestamp, want.Timestamp = time.Time{}, time.Time{}
	if got != want {
		tb.Errorf("event %s:\n got  %+v\n want %+v", want.ID, got, want)
	}
}

func testRoundTrip(t *testing.T, s auditevents.Store) {
	g := newGen(1)
	e := g.event(base)
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
	g := newGen(2)
	e := g.event(time.Date(2025, 3, 14, 17, 9, 26, 123456789, time.FixedZone("CEST", 2*3600)))
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
	dup := g.event(base)
	dup.ID = strings.ToUpper(e.ID)
	if err := s.Append(context.Background(), dup); !errors.Is(err, auditevents.ErrDuplicateID) {
		t.Errorf("Append(same ID in upper case) = %v, want ErrDuplicateID", err)
	}
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
	g := newGen(3)
	valid := g.event(base)
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
			bad := g.event(base)
			tt.mutate(&bad)
			other := g.event(base.Add(time.Second))
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
	g := newGen(4)
	first := g.event(base)
	appendAll(t, s, first)

	t.Run("already stored", func(t *testing.T) {
		fresh := g.event(base.Add(time.Second))
		again := g.event(base.Add(2 * time.Second))
		again.ID = first.ID
		err := s.Append(context.Background(), fresh, again)
		if !errors.Is(err, auditevents.ErrDuplicateID) {
			t.Fatalf("Append = %v, want ErrDuplicateID", err)
		}
		if !strings.Contains(err.Error(), first.ID) {
			t.Errorf("error %q does not name the duplicate ID %s", err, first.ID)
		}
		sameIDs(t, "store after the rejected batch", query(t, s, auditevents.Query{}), []auditevents.AuditEvent{first})
	})
	t.Run("twice in one batch", func(t *testing.T) {
		a := g.event(base.Add(3 * time.Second))
		b := a
		b.Timestamp = base.Add(4 * time.Second)
		if err := s.Append(context.Background(), a, b); !errors.Is(err, auditevents.ErrDuplicateID) {
			t.Fatalf("Append = %v, want ErrDuplicateID", err)
		}
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

func testOrder(t *testing.T, s auditevents.Store) {
	g := newGen(5)
	var all []auditevents.AuditEvent
	// Five events share one timestamp: ties are broken by ID, descending.
	for i := range 20 {
		ts := base.Add(time.Duration(i%7) * time.Minute)
		if i%4 == 0 {
			ts = base.Add(3 * time.Minute)
		}
		all = append(all, g.event(ts))
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
	g := newGen(6)
	// Imported events: IDs made now, timestamps from long ago, in reverse.
	var all []auditevents.AuditEvent
	for i := range 10 {
		all = append(all, g.event(base.AddDate(0, 0, -i)))
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
func corpus(g *gen, n int) []auditevents.AuditEvent {
	users := []string{"alice@example.com", "bob@example.com", "carol@example.com"}
	accounts := []string{"", "acme", "globex"}
	configs := []string{"", "nginx", "nginx:1", "nginx:2", "nginx:12", "nginx-edge:1", "redis:3", "redis"}
	kinds := []auditevents.Kind{auditevents.KindConfiguration, auditevents.KindRollout, auditevents.KindUser, auditevents.KindAPIKey}
	actions := []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted, auditevents.ActionStarted}
	events := make([]auditevents.AuditEvent, n)
	for i := range events {
		e := g.event(base.Add(time.Duration(g.rng.IntN(10*24*3600)) * time.Second).Add(time.Duration(g.rng.IntN(1000)) * time.Microsecond))
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
	g := newGen(7)
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
		t.Run(tt.name, func(t *testing.T) {
			want := expect(all, tt.q)
			got := query(t, s, tt.q)
			sameIDs(t, "result", got, want)
			for i := range min(len(got), len(want)) {
				sameEvent(t, got[i], want[i])
			}
		})
	}
}

func testConfiguration(t *testing.T, s auditevents.Store) {
	g := newGen(8)
	mk := func(cfg string) auditevents.AuditEvent {
		e := g.event(base.Add(time.Duration(g.seq) * time.Second))
		e.Configuration = cfg
		return e
	}
	events := map[string]auditevents.AuditEvent{}
	for _, c := range []string{"myconfig", "myconfig:1", "myconfig:3", "myconfig:30", "myconfig-2:3", "myconfigx", "other:3", "a:b", "a:b:3", ""} {
		events[c] = mk(c)
		appendAll(t, s, events[c])
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
	}
	for _, tt := range tests {
		t.Run(tt.filter, func(t *testing.T) {
			var want []auditevents.AuditEvent
			for _, c := range tt.want {
				want = append(want, events[c])
			}
			slices.SortFunc(want, auditevents.Compare)
			sameIDs(t, "configuration-name="+tt.filter, query(t, s, auditevents.Query{Configuration: tt.filter}), want)
		})
	}
}

func testDateBounds(t *testing.T, s auditevents.Store) {
	g := newGen(9)
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
		events[name] = g.event(ts)
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
			var want []auditevents.AuditEvent
			for _, n := range tt.want {
				want = append(want, events[n])
			}
			slices.SortFunc(want, auditevents.Compare)
			sameIDs(t, tt.name, query(t, s, tt.q), want)
		})
	}
}

func testAccountScope(t *testing.T, s auditevents.Store) {
	g := newGen(10)
	var all []auditevents.AuditEvent
	for i, acct := range []string{"acme", "globex", "", "acme", "globex", ""} {
		e := g.event(base.Add(time.Duration(i) * time.Second))
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
	g := newGen(21)
	const n = 12000
	all := make([]auditevents.AuditEvent, n)
	// Each event's resource name puts it in one of 17 classes. Whatever
	// position a store resumes a chunk from, a query for one of the
	// classes matches the event there, so an event skipped or repeated at
	// a chunk boundary shows up below.
	const classes = 17
	for i := range all {
		all[i] = g.event(base.Add(time.Duration(i) * time.Second))
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
		sameIDs(t, fmt.Sprintf("sparse %+v", q), query(t, s, q), expect(all, q))
		sameIDs(t, fmt.Sprintf("sparse %+v in pages of 3", q), pages(t, s, q, 3, nil), expect(all, q))
	}
	for c := range classes {
		q := auditevents.Query{ResourceName: fmt.Sprintf("class-%d", c)}
		sameIDs(t, fmt.Sprintf("resource name class-%d", c), query(t, s, q), expect(all, q))
	}
	// Every event, in pages that end and resume anywhere.
	sameIDs(t, "all events in pages of 997", pages(t, s, auditevents.Query{}, 997, nil), expect(all, auditevents.Query{}))
}

func testLimit(t *testing.T, s auditevents.Store) {
	g := newGen(11)
	all := corpus(g, 50)
	appendAll(t, s, all...)
	for _, limit := range []int{1, 7, 50, 51, 1000} {
		for _, q := range []auditevents.Query{{Limit: limit}, {Limit: limit, User: "alice@example.com"}} {
			sameIDs(t, fmt.Sprintf("limit %d", limit), query(t, s, q), expect(all, q))
		}
	}
}

// pages reads every page of q, pageSize events at a time, calling between
// after each page.
func pages(tb testing.TB, s auditevents.Store, q auditevents.Query, pageSize int, between func(page int)) []auditevents.AuditEvent {
	tb.Helper()
	var out []auditevents.AuditEvent
	q.Limit = pageSize
	for page := 0; ; page++ {
		got := query(tb, s, q)
		if len(got) > pageSize {
			tb.Fatalf("page %d has %d events, more than the limit %d", page, len(got), pageSize)
		}
		out = append(out, got...)
		if len(got) < pageSize {
			return out
		}
		if page > 10000 {
			tb.Fatal("paging does not end")
		}
		q.After = got[len(got)-1].Cursor()
		if between != nil {
			between(page)
		}
	}
}

func testCursorPages(t *testing.T, s auditevents.Store) {
	g := newGen(12)
	all := corpus(g, 300)
	// Ties across page boundaries: many events share a timestamp.
	for i := range 40 {
		e := g.event(base.Add(5 * time.Hour))
		e.User = []string{"alice@example.com", "bob@example.com"}[i%2]
		all = append(all, e)
	}
	appendAll(t, s, all...)
	for _, pageSize := range []int{1, 7, 100} {
		for _, q := range []auditevents.Query{{}, {User: "bob@example.com"}, {Configuration: "nginx", Since: base.Add(24 * time.Hour)}} {
			got := pages(t, s, q, pageSize, nil)
			sameIDs(t, fmt.Sprintf("pages of %d for %+v", pageSize, q), got, expect(all, q))
		}
	}
	// A cursor whose event is gone still marks a position.
	want := expect(all, auditevents.Query{})
	gone := auditevents.Cursor{Timestamp: want[10].Timestamp, ID: strings.Repeat("0", 25) + "1"}
	sameIDs(t, "query after a cursor of no stored event", query(t, s, auditevents.Query{After: gone}), expect(all, auditevents.Query{After: gone}))
}

func testCursorAppendsBetweenPages(t *testing.T, s auditevents.Store) {
	g := newGen(13)
	all := corpus(g, 200)
	appendAll(t, s, all...)
	q := auditevents.Query{}
	want := expect(all, q)
	got := pages(t, s, q, 15, func(page int) {
		// Newer events, older events, and events at the page boundary
		// arrive between pages.
		newer := g.event(base.Add(30 * 24 * time.Hour))
		older := g.event(base.Add(-30 * 24 * time.Hour))
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
		if auditevents.Compare(got[i-1], got[i]) >= 0 {
			t.Fatalf("pages out of order at %d: %s then %s", i, got[i-1].ID, got[i].ID)
		}
	}
}

func testInvalidQuery(t *testing.T, s auditevents.Store) {
	appendAll(t, s, newGen(14).event(base))
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
	g := newGen(15)
	all := corpus(g, 400)
	cut := base.Add(4 * 24 * time.Hour)
	atCut := g.event(cut)
	atCut.User = "bob@example.com"
	justBefore := g.event(cut.Add(-time.Microsecond))
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
		sameIDs(t, fmt.Sprintf("after prune, %+v", q), query(t, s, q), expect(kept, q))
	}
	if n, err := s.Prune(context.Background(), cut); err != nil || n != 0 {
		t.Errorf("second Prune = %d, %v; want 0, nil", n, err)
	}
	// Pruned IDs may not come back as duplicates of what is gone, and
	// the store keeps accepting events.
	appendAll(t, s, g.event(cut.Add(time.Hour)))
}

func testCancellation(t *testing.T, s auditevents.Store) {
	g := newGen(16)
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
		if err := s.Append(ctx, g.event(base)); !errors.Is(err, context.Canceled) {
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
	g := newGen(17)
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
		copyOf := g.event(e.Timestamp.Add(-365 * 24 * time.Hour)) // sorts after the query's range
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

func testLargeResult(t *testing.T, s auditevents.Store) {
	g := newGen(18)
	const n = 20000
	batch := make([]auditevents.AuditEvent, 0, 1000)
	for i := range n {
		batch = append(batch, g.event(base.Add(time.Duration(i)*time.Millisecond)))
		if len(batch) == cap(batch) {
			appendAll(t, s, batch...)
			batch = batch[:0]
		}
	}
	count := 0
	var prev auditevents.AuditEvent
	for e, err := range s.Query(context.Background(), auditevents.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		if count > 0 && auditevents.Compare(prev, e) >= 0 {
			t.Fatalf("event %d out of order", count)
		}
		prev = e
		count++
	}
	if count != n {
		t.Errorf("streamed %d events, want %d", count, n)
	}
}

func testConcurrency(t *testing.T, s auditevents.Store) {
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter+writers)
	idsByWriter := make([][]string, writers)
	for w := range writers {
		g := newGen(uint64(100 + w))
		g.ms += uint64(w) << 20 // disjoint ID ranges per writer
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				e := g.event(base.Add(time.Duration(w*perWriter+i) * time.Millisecond))
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
					if !first && auditevents.Compare(prev, e) >= 0 {
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
	g := newGen(19)
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
					e := g.event(base.Add(time.Duration(100*i+j) * time.Hour))
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
			e := g.event(base.Add(time.Duration(100*i) * time.Hour))
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
	g := newGen(20)
	appendAll(t, s, g.event(base))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Append(context.Background(), g.event(base)); !errors.Is(err, auditevents.ErrClosed) {
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
