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
// atomicity, validation, retention (and the count a stopped Prune returns),
// cancellation, constant memory for a large result, concurrent appends and
// queries (run it with -race), unicode, empty and very long values, the
// actor context (kept exactly, the IP address in its canonical spelling,
// metadata never shared with the caller or a reader, the ip-address and
// request-id filters), and use after Close. A store that also implements
// [auditevents.Ledger] is checked for that contract too: sequences per
// account, from 0, gapless and in commit order (also under concurrent
// appends and after failed batches), Entries from any sequence, the Merkle
// tree and its proofs, retention that keeps the tree, and use after Close.
// One that implements [auditevents.Positions] is checked for the positions a
// forwarder keeps in it: unknown ones read 0, each (consumer, account) is
// independent, invalid ones are refused as [auditevents.CheckPosition] says,
// concurrent use, and use after Close (position.go).
//
// # How results are checked
//
// Expected results come from a model written into this package: a linear
// scan over every event appended, with the filter semantics of
// [auditevents.Query] spelled out plainly. It calls none of the code it
// checks (neither Query.Matches nor any store), so a bug shared by every
// store still fails the suite. The expected roots of a Ledger's trees come
// from RFC 6962's recursive definition, computed here over the leaves, not
// from tlog or the store; the leaves are those of [auditevents.LeafHash],
// the canonical encoding that the root package checks against its golden
// file. The suite's own tests run it against deliberately broken stores and
// expect each to fail.
//
// # Data and benchmarks
//
// [Generator] makes realistic events deterministically from a seed: the data
// of [RunBenchmarks], of this module's benchmark program and of most of its
// tests. [RunBenchmarks] measures a store on the standard workloads, the
// query shapes of [QueryShapes] among them, so that a third party compares
// its store with this module's in the same three lines.
package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// NewStore returns a new, empty store for one subtest of [Run] or one
// benchmark of [RunBenchmarks], which close it when they end; register
// anything else to release (a temporary file, a database schema) with
// tb.Cleanup. It may fail the test with tb.Fatal.
type NewStore func(tb testing.TB) auditevents.Store

// Run runs the conformance suite against stores made by newStore: one
// subtest per area of the Store contract, each with a fresh store, then,
// when the stores implement [auditevents.Ledger] (Run makes one more store
// to find out), one subtest per area of that contract. Subtests do not run
// in parallel (one of them measures the heap). A failing subtest logs what
// the contract it checks promises, and why users rely on it.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	for _, a := range areas {
		t.Run(a.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("the contract: %s", a.contract)
				}
			})
			a.run(t, s)
		})
	}
	runLedger(t, newStore)
	runPositions(t, newStore)
}

// area is one part of the Store contract, checked against a fresh store.
type area struct {
	name string
	// contract says what the area checks and why users rely on it; Run
	// logs it when the area fails.
	contract string
	run      func(t *testing.T, s auditevents.Store)
}

// areas are the parts of the contract Run checks, in order. Each is a
// function of its own; a new capability of the Store contract adds its area
// here, in a file of its own.
var areas = []area{
	{"RoundTrip", "an appended event comes back field for field, its timestamp in UTC: an audit trail that changes what it was told is worthless", testRoundTrip},
	{"Normalization", "IDs are kept in canonical upper case and timestamps in UTC to the microsecond, so a lower-case ID is the same ID and results never depend on the time zone of the writer", testNormalization},
	{"EmptyAppend", "appending no events succeeds and stores nothing, so callers need not special-case an empty batch", testEmptyAppend},
	{"Validation", "an invalid event fails with an *EventError naming its index and field, and nothing of its batch is stored: the host can tell its caller which event is wrong and why, and a batch is all or nothing", testValidation},
	{"DuplicateIDs", "an ID already stored, or twice in a batch, fails with ErrDuplicateID naming the ID and stores nothing of the batch, so that retrying a batch never records an event twice", testDuplicateIDs},
	{"Order", "results come newest first, ties broken by descending ID, whatever order events were appended in: paging depends on one total order", testOrder},
	{"OrderByTimestampNotID", "order follows the timestamp, not the time in the ID, so imported events sort where they happened", testOrderByTimestampNotID},
	{"Filters", "every filter alone and combined selects exactly the matching events: users search the trail by these fields", testFilters},
	{"RealisticData", "realistic data (bulk operations with shared timestamps, configurations with and without versions, every kind) gives the model's answer for queries on values that occur", testRealisticData},
	{"Configuration", `configuration-name "name" matches the configuration in every version and "name:N" only version N, and a name holding a colon survives: the API's documented filter`, testConfiguration},
	{"DateBounds", "min-date is inclusive and max-date includes its whole unit, to the microsecond: an event on the boundary second must not vanish from an audit", testDateBounds},
	{"AccountScope", "an account scope admits only that account's events whatever the other filters: one tenant must never see another's trail", testAccountScope},
	{"AccountScopeWithCursor", "an account scope holds on every page, including those continued with a cursor: a cursor must not be a way out of the tenant", testAccountScopeWithCursor},
	{"SparseMatches", "a few matches among many non-matching events are all found, none repeated, wherever a store's chunks begin and end", testSparseMatches},
	{"Limit", "a limit returns exactly the first events of the full result", testLimit},
	{"CursorPages", "pages continued with a cursor neither skip nor repeat events, also across ties and after a cursor of an event that is gone", testCursorPages},
	{"CursorWithAppendsBetweenPages", "events appended between pages never make a page skip or repeat an event already due", testCursorAppendsBetweenPages},
	{"InvalidQuery", "an invalid query yields ErrInvalidQuery and no events, so the HTTP layer answers 400 and never a partial result", testInvalidQuery},
	{"Prune", "Prune deletes exactly the events strictly before its time, counts them, and leaves every other event queryable: retention must never eat a day too many", testPrune},
	{"PruneStopped", "a Prune stopped by its context returns how many events it did delete, and the rest are intact: the caller's count of deleted events stays exact", testPruneStopped},
	{"PrunedIDs", "an event deleted by Prune is forgotten, ID included: appending it again stores it again", testPrunedIDs},
	{"Cancellation", "a cancelled context stops Append, Query and Prune promptly with the context's error", testCancellation},
	{"BreakAndReenter", "a loop over a query may stop early and may call the store from its body, as an exporter or a forwarder does", testBreakAndReenter},
	{"LargeResult", "a large result streams in order with the memory of a few chunks, not of the result: an export of years of events must not exhaust the host", testLargeResult},
	{"Concurrency", "concurrent appends and queries are safe, lose nothing and keep each query ordered", testConcurrency},
	{"Values", "empty, unicode, very long and formula-looking values, and every kind, are stored and matched exactly", testValues},
	{"Closed", "after Close every method but Close returns ErrClosed, and Close again returns nil", testClosed},
	{"ActorRoundTrip", "the actor fields (IP address, user agent, request ID, metadata) come back exactly, the IP address in its canonical spelling, and an event without them comes back without them (nil metadata): an investigator relies on where an action came from, and an event without context must stay the spec's model", testActorRoundTrip},
	{"MetadataNotShared", "a store never shares an event's metadata map with its caller: changing the map after Append, or the map of an event a reader got, changes nothing stored", testMetadataNotShared},
	{"ActorFilters", "the ip-address filter matches an address, or every address of a network and none of the other family, and request-id matches exactly, alone, combined with the other filters and over pages: an investigator follows one client, network or request through the trail", testActorFilters},
}

// base is the time the suite's events are placed around: a fixed date, so
// that nothing depends on the wall clock.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

// event returns a valid event at t with a new ID from g, and the fixed
// values the targeted cases build on: account "acme", user
// alice@example.com, a modification of configuration nginx version 3.
func event(g *Generator, t time.Time) auditevents.AuditEvent {
	e := g.Event(t)
	e.Account = "acme"
	e.User = "alice@example.com"
	e.Action = auditevents.ActionModified
	e.ResourceKind = auditevents.KindConfiguration
	e.ResourceName = "nginx"
	e.Configuration = "nginx:3"
	e.Description = "Configuration nginx modified"
	return e
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
		tb.Fatalf("Query(%s): %v", describe(q), err)
	}
	return got
}

// describe returns q as a short, readable string for failure messages.
func describe(q auditevents.Query) string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	if q.Account != nil {
		parts = append(parts, fmt.Sprintf("account=%q", *q.Account))
	}
	add("user", q.User)
	add("configuration", q.Configuration)
	add("kind", string(q.ResourceKind))
	add("name", q.ResourceName)
	add("action", string(q.Action))
	if q.IPAddress.IsValid() {
		add("ip", q.IPAddress.String())
	}
	add("request", q.RequestID)
	if !q.Since.IsZero() {
		add("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Before.IsZero() {
		add("before", q.Before.Format(time.RFC3339Nano))
	}
	if q.Limit != 0 {
		add("limit", fmt.Sprint(q.Limit))
	}
	if !q.After.IsZero() {
		add("after", q.After.Timestamp.Format(time.RFC3339Nano)+"/"+q.After.ID)
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// sortResult sorts events in result order, as the model defines it.
func sortResult(events []auditevents.AuditEvent) {
	slices.SortStableFunc(events, func(a, b auditevents.AuditEvent) int {
		switch {
		case newerFirst(a, b):
			return -1
		case newerFirst(b, a):
			return 1
		}
		return 0
	})
}

func ids(events []auditevents.AuditEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

// sameIDs fails unless got holds exactly the IDs of want, in order, and says
// where they first differ.
func sameIDs(tb testing.TB, what string, got, want []auditevents.AuditEvent) {
	tb.Helper()
	g, w := ids(got), ids(want)
	if slices.Equal(g, w) {
		return
	}
	i := 0
	for i < len(g) && i < len(w) && g[i] == w[i] {
		i++
	}
	switch {
	case i == len(g):
		tb.Errorf("%s: got %d events, want %d: missing from position %d on, starting with %s", what, len(g), len(w), i, eventString(want[i]))
	case i == len(w):
		tb.Errorf("%s: got %d events, want %d: unexpected from position %d on, starting with %s", what, len(g), len(w), i, eventString(got[i]))
	default:
		tb.Errorf("%s: got %d events, want %d: first difference at position %d: got %s, want %s", what, len(g), len(w), i, eventString(got[i]), eventString(want[i]))
	}
}

// eventString shows the fields of e that decide whether and where it
// appears in a result.
func eventString(e auditevents.AuditEvent) string {
	return fmt.Sprintf("%s at %s (account %q, user %q, %s %s %q, configuration %q, ip %q, request %q)",
		e.ID, e.Timestamp.Format(time.RFC3339Nano), e.Account, e.User, e.Action, e.ResourceKind, e.ResourceName, e.Configuration, e.IPAddress, e.RequestID)
}

// sameEvent fails unless got equals want field by field, timestamps compared
// as instants.
func sameEvent(tb testing.TB, got, want auditevents.AuditEvent) {
	tb.Helper()
	if !got.Timestamp.Equal(want.Timestamp) {
		tb.Errorf("event %s: timestamp %s, want %s", want.ID, got.Timestamp.Format(time.RFC3339Nano), want.Timestamp.Format(time.RFC3339Nano))
	}
	if !got.Equal(&want) {
		tb.Errorf("event %s:\n got  %+v\n want %+v", want.ID, got, want)
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
