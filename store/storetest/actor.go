package storetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// This file checks the actor context of events (IP address, user agent,
// request ID and metadata): that stores keep it exactly, never share a
// metadata map with their callers, and filter on the IP address and the
// request ID.

// actorEvents returns events that carry the actor fields at their limits
// and in their odd spellings, and events that carry none, by name.
func actorEvents(g *Generator) map[string]auditevents.AuditEvent {
	out := map[string]auditevents.AuditEvent{}
	at := base
	add := func(name string, set func(e *auditevents.AuditEvent)) {
		at = at.Add(time.Second)
		e := event(g, at)
		e.IPAddress, e.UserAgent, e.RequestID, e.Metadata = "", "", "", nil
		set(&e)
		out[name] = e
	}
	add("all four", func(e *auditevents.AuditEvent) {
		e.IPAddress = "192.0.2.44"
		e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
		e.RequestID = "4bf92f3577b34da6a3ce929d0e0e4736"
		e.Metadata = map[string]string{"session": "s-42", "region": "eu-west-1", "client.version": "1.2.3"}
	})
	add("unicode", func(e *auditevents.AuditEvent) {
		e.IPAddress = "2001:db8::7"
		e.UserAgent = "Ünïcödé-Client/1.0 (日本語; 🚀) \"quoted\", comma\nnew line"
		e.RequestID = "req-ünïcödé-✓"
		e.Metadata = map[string]string{"note": "=cmd|' /C calc'!A0", "emoji": "🚀 ✓", "empty": ""}
	})
	add("max sizes", func(e *auditevents.AuditEvent) {
		e.IPAddress = "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe"
		e.UserAgent = strings.Repeat("u", auditevents.MaxNameBytes)
		e.RequestID = strings.Repeat("r", auditevents.MaxNameBytes-3) + "✓" // a multi-byte rune at the end
		e.Metadata = map[string]string{}
		for i := range auditevents.MaxMetadataEntries {
			k := fmt.Sprintf("%02d.", i) + strings.Repeat("k", auditevents.MaxMetadataKeyBytes-3)
			e.Metadata[k] = strings.Repeat(string(rune('a'+i)), auditevents.MaxNameBytes)
		}
	})
	add("ipv4-mapped", func(e *auditevents.AuditEvent) { e.IPAddress = "::ffff:198.51.100.9" })
	add("ipv6 long form", func(e *auditevents.AuditEvent) { e.IPAddress = "2001:DB8:0:0:0:0:0:0A" })
	add("ip only", func(e *auditevents.AuditEvent) { e.IPAddress = "203.0.113.255" })
	add("user agent only", func(e *auditevents.AuditEvent) { e.UserAgent = "curl/8.5.0" })
	add("request id only", func(e *auditevents.AuditEvent) { e.RequestID = "0" })
	add("metadata only", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": "v"} })
	add("none", func(*auditevents.AuditEvent) {})
	add("empty metadata", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{} })
	return out
}

// testActorRoundTrip appends events with and without actor context and
// reads them back by query and, for a Ledger, by Lookup and Entries. Every
// actor field comes back byte for byte, the IP address in its one canonical
// spelling (what the ip-address filter and an investigator compare), and an
// event without actor context comes back without it, with a nil metadata
// map, so that its JSON is exactly the spec's model.
func testActorRoundTrip(t *testing.T, s auditevents.Store) {
	g := NewGenerator(31)
	events := actorEvents(g)
	var all []auditevents.AuditEvent
	for _, e := range events {
		all = append(all, e)
	}
	appendAll(t, s, all...)
	got := map[string]auditevents.AuditEvent{}
	for _, e := range query(t, s, auditevents.Query{}) {
		got[e.ID] = e
	}
	check := func(how string, name string, e auditevents.AuditEvent) {
		t.Helper()
		want := stored(events[name])
		if !e.Equal(&want) {
			t.Errorf("%s: event %q came back as\n%+v\nwant\n%+v", how, name, e, want)
		}
		if want.Metadata == nil && e.Metadata != nil {
			t.Errorf("%s: event %q without metadata came back with a non-nil empty map", how, name)
		}
	}
	for name, e := range events {
		g, ok := got[strings.ToUpper(e.ID)]
		if !ok {
			t.Errorf("event %q is missing from the result", name)
			continue
		}
		check("Query", name, g)
	}
	// The canonical spellings, written out: what the model's stored does.
	for name, want := range map[string]string{
		"ipv4-mapped":    "198.51.100.9",
		"ipv6 long form": "2001:db8::a",
		"unicode":        "2001:db8::7",
	} {
		if g := got[events[name].ID]; g.IPAddress != want {
			t.Errorf("event %q: IP address %q, want the canonical %q", name, g.IPAddress, want)
		}
	}
	if m := got[events["max sizes"].ID].Metadata; len(m) != auditevents.MaxMetadataEntries {
		t.Errorf("event with %d metadata entries came back with %d", auditevents.MaxMetadataEntries, len(m))
	}
	l, ok := s.(auditevents.Ledger)
	if !ok {
		return
	}
	for name, e := range events {
		entry, err := l.Lookup(context.Background(), e.ID)
		if err != nil {
			t.Errorf("Lookup(%s) of event %q: %v", e.ID, name, err)
			continue
		}
		check("Lookup", name, entry.Event)
	}
	byID := map[string]string{}
	for name, e := range events {
		byID[e.ID] = name
	}
	for _, entry := range entries(t, l, "acme", 0) {
		if name, ok := byID[entry.Event.ID]; ok {
			check("Entries", name, entry.Event)
		}
	}
}

// testMetadataNotShared checks that a store keeps its own copy of an
// event's metadata: changing the map after Append, or changing the map of
// an event a query (or a Ledger's Lookup and Entries) returned, changes
// nothing stored. A host reuses its maps, and a reader that redacts an
// event for its audience must not redact the stored one.
func testMetadataNotShared(t *testing.T, s auditevents.Store) {
	g := NewGenerator(32)
	e := event(g, base)
	m := map[string]string{"session": "s-1", "region": "eu-west-1"}
	e.Metadata = m
	want := stored(e)
	appendAll(t, s, e)
	m["session"] = "changed by the caller"
	m["added"] = "by the caller"
	delete(m, "region")
	same := func(how string) {
		t.Helper()
		got := query(t, s, auditevents.Query{})
		if len(got) != 1 {
			t.Fatalf("%s: got %d events, want 1", how, len(got))
		}
		if !got[0].Equal(&want) {
			t.Fatalf("%s: the stored event changed:\n got  %+v\n want %+v", how, got[0], want)
		}
	}
	same("after the caller changed the map it appended")
	for range 2 {
		got := query(t, s, auditevents.Query{})
		if len(got) == 1 && got[0].Metadata != nil {
			got[0].Metadata["session"] = "changed by a reader"
			got[0].Metadata["added"] = "by a reader"
		}
	}
	same("after a reader changed the map of a queried event")
	l, ok := s.(auditevents.Ledger)
	if !ok {
		return
	}
	entry, err := l.Lookup(context.Background(), e.ID)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", e.ID, err)
	}
	if entry.Event.Metadata != nil {
		entry.Event.Metadata["session"] = "changed by Lookup's reader"
	}
	same("after a reader changed the map of an event from Lookup")
	for _, entry := range entries(t, l, "acme", 0) {
		if entry.Event.Metadata != nil {
			entry.Event.Metadata["session"] = "changed by Entries' reader"
		}
	}
	same("after a reader changed the map of an event from Entries")
}

// actorCorpus returns events spread over a few days with IP addresses from
// a few IPv4 and IPv6 networks (among them the first address of a network,
// and IPv4-mapped spellings that stores keep as IPv4), request IDs shared
// by the events of one request, and some events with neither.
func actorCorpus(g *Generator, n int) []auditevents.AuditEvent {
	addrs := []string{
		"192.0.2.0", "192.0.2.1", "192.0.2.77", "192.0.2.200", "::ffff:192.0.2.78",
		"198.51.100.5", "198.51.100.250", "203.0.113.9", "10.1.2.3", "0.0.0.0",
		"2001:db8::", "2001:db8::1", "2001:db8:0:1::5", "2001:db8:1::9", "2001:db8:ffff::1",
		"2001:db9::1", "fe80::1", "::",
		"",
	}
	accounts := []string{"", "acme", "globex"}
	users := []string{"alice@example.com", "bob@example.com"}
	events := make([]auditevents.AuditEvent, n)
	request := ""
	for i := range events {
		e := event(g, base.Add(time.Duration(g.rng.IntN(4*24*3600))*time.Second))
		e.IPAddress = addrs[g.rng.IntN(len(addrs))]
		if i%3 == 0 || request == "" { // a request causes one to three events
			request = fmt.Sprintf("req-%d", g.rng.IntN(n/2))
		}
		e.RequestID = request
		if g.rng.IntN(8) == 0 {
			e.RequestID = ""
		}
		e.Account = accounts[g.rng.IntN(len(accounts))]
		e.User = users[g.rng.IntN(len(users))]
		events[i] = e
	}
	return events
}

// testActorFilters checks the ip-address and request-id filters alone,
// combined with the others and over pages: an address matches itself, a
// network every address in it and no address of the other family, and a
// request ID exactly. An investigator follows one client, one network or
// one request through the trail with them.
func testActorFilters(t *testing.T, s auditevents.Store) {
	g := NewGenerator(33)
	all := actorCorpus(g, 500)
	appendAll(t, s, all...)
	acme := "acme"
	day := base.Add(24 * time.Hour)
	p := netip.MustParsePrefix
	req := all[42].RequestID
	if req == "" {
		req = all[43].RequestID
	}
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"IPv4 address", auditevents.Query{IPAddress: p("192.0.2.77/32")}},
		{"IPv4 address stored from its IPv4-mapped form", auditevents.Query{IPAddress: p("192.0.2.78/32")}},
		{"IPv4 network's first address", auditevents.Query{IPAddress: p("192.0.2.0/32")}},
		{"IPv4 /24", auditevents.Query{IPAddress: p("192.0.2.0/24")}},
		{"IPv4 /25, lower half", auditevents.Query{IPAddress: p("192.0.2.0/25")}},
		{"IPv4 /25, upper half", auditevents.Query{IPAddress: p("192.0.2.128/25")}},
		{"IPv4 /8", auditevents.Query{IPAddress: p("10.0.0.0/8")}},
		{"every IPv4 address", auditevents.Query{IPAddress: p("0.0.0.0/0")}},
		{"IPv6 address", auditevents.Query{IPAddress: p("2001:db8::1/128")}},
		{"IPv6 unspecified address", auditevents.Query{IPAddress: p("::/128")}},
		{"IPv6 /48", auditevents.Query{IPAddress: p("2001:db8::/48")}},
		{"IPv6 /32", auditevents.Query{IPAddress: p("2001:db8::/32")}},
		{"IPv6 /31", auditevents.Query{IPAddress: p("2001:db8::/31")}},
		{"every IPv6 address", auditevents.Query{IPAddress: p("::/0")}},
		{"an address no event has", auditevents.Query{IPAddress: p("192.0.2.2/32")}},
		{"request ID", auditevents.Query{RequestID: req}},
		{"unknown request ID", auditevents.Query{RequestID: "req-none"}},
		{"request ID and user", auditevents.Query{RequestID: req, User: "alice@example.com"}},
		{"network and account", auditevents.Query{IPAddress: p("192.0.2.0/24"), Account: &acme}},
		{"network, user and day", auditevents.Query{IPAddress: p("2001:db8::/32"), User: "bob@example.com", Since: day, Before: day.Add(24 * time.Hour)}},
		{"network and request ID", auditevents.Query{IPAddress: p("0.0.0.0/0"), RequestID: req}},
		{"network and limit", auditevents.Query{IPAddress: p("192.0.2.0/24"), Limit: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sameResult(t, s, all, tt.q) })
	}
	// The model must agree with what the cases expect of it, or they
	// prove nothing: the networks hold events, and a network of one
	// family holds none of the other.
	if n := len(expect(all, auditevents.Query{IPAddress: p("192.0.2.0/24")})); n < 20 {
		t.Fatalf("the corpus has %d events in 192.0.2.0/24, too few to check the filter", n)
	}
	for _, e := range expect(all, auditevents.Query{IPAddress: p("::/0")}) {
		if strings.Contains(e.IPAddress, ".") {
			t.Fatalf("the model puts %s in ::/0", e.IPAddress)
		}
	}
	for _, q := range []auditevents.Query{
		{IPAddress: p("192.0.2.0/24")},
		{IPAddress: p("2001:db8::/32"), Account: &acme},
		{RequestID: req},
		{IPAddress: p("0.0.0.0/0"), User: "alice@example.com"},
	} {
		for _, size := range []int{1, 7, 50} {
			sameIDs(t, fmt.Sprintf("pages of %d of %s", size, describe(q)), pages(t, s, q, size, nil), expect(all, q))
		}
	}
	// A network with bits set after its length is refused, as ParseQuery
	// refuses it, never answered with a guess.
	for _, bad := range []netip.Prefix{p("192.0.2.1/24"), p("2001:db8::1/32"), p("::ffff:192.0.2.0/120")} {
		_, err := auditevents.Collect(s.Query(context.Background(), auditevents.Query{IPAddress: bad}))
		if !errors.Is(err, auditevents.ErrInvalidQuery) {
			t.Errorf("Query(ip-address %s) = %v, want ErrInvalidQuery", bad, err)
		}
	}
}
