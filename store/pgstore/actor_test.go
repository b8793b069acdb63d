package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
	"github.com/jackc/pgx/v5"
)

// maxMetadata returns metadata with the most entries, of the longest keys
// and values.
func maxMetadata() map[string]string {
	m := make(map[string]string, auditevents.MaxMetadataEntries)
	for i := range auditevents.MaxMetadataEntries {
		key := fmt.Sprintf("%02d", i) + strings.Repeat("k", auditevents.MaxMetadataKeyBytes-2)
		m[key] = strings.Repeat(string(rune('a'+i)), auditevents.MaxNameBytes)
	}
	return m
}

// The actor fields come back as they were appended, from Query, Lookup
// and Entries: each field alone and all four, unicode, the longest values,
// IPv6, the most metadata; an event without them comes back without them,
// its Metadata nil.
func TestActorRoundTrip(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	all := accountEvents(21, base, 9, "acme")
	all[0].IPAddress = "192.0.2.1"
	all[1].UserAgent = "curl/8.5.0"
	all[2].RequestID = "4bf92f3577b34da6a3ce929d0e0e4736"
	all[3].Metadata = map[string]string{"region": "eu-west-1"}
	all[4].IPAddress = "2001:db8:85a3::8a2e:370:7334"
	all[4].UserAgent = "Navigateur/1.0 (Ünïcödé; 日本語) 🚀"
	all[4].RequestID = "req-ü-日本"
	all[4].Metadata = map[string]string{"tenant.name": "Zürich \"quoted\" \\ <tag>", "empty": ""}
	all[5].IPAddress = "::ffff:198.51.100.7" // stored as the IPv4 address
	all[5].UserAgent = strings.Repeat("ü", auditevents.MaxNameBytes/2)
	all[5].RequestID = strings.Repeat("r", auditevents.MaxNameBytes)
	all[5].Metadata = maxMetadata()
	all[6].IPAddress = "::"
	all[6].Metadata = map[string]string{}
	all[7].IPAddress = "::1.2.3.4" // an IPv4-compatible IPv6 address, which PostgreSQL writes in its own way
	// all[8] has no actor fields.
	if err := s.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	want := make([]auditevents.AuditEvent, len(all))
	for i := range all {
		want[i] = auditevents.Normalize(all[i])
	}
	got := collect(t, s, auditevents.Query{})
	slices.Reverse(got)
	if len(got) != len(want) {
		t.Fatalf("%d events, want %d", len(got), len(want))
	}
	var entries []auditevents.AuditEvent
	for e, err := range s.Entries(ctx, "acme", 0) {
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e.Event)
	}
	if len(entries) != len(want) {
		t.Fatalf("Entries gave %d events, want %d", len(entries), len(want))
	}
	for i := range want {
		if !got[i].Equal(&want[i]) {
			t.Errorf("Query: event %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
		if !want[i].HasActor() && got[i].Metadata != nil {
			t.Errorf("Query: event %d without actor fields came back with metadata %#v", i, got[i].Metadata)
		}
		if !entries[i].Equal(&want[i]) {
			t.Errorf("Entries: event %d:\n got %+v\nwant %+v", i, entries[i], want[i])
		}
		e, err := s.Lookup(ctx, want[i].ID)
		if err != nil || !e.Event.Equal(&want[i]) {
			t.Errorf("Lookup: event %d:\n got %+v, %v\nwant %+v", i, e.Event, err, want[i])
		}
	}
	if got[6].Metadata != nil {
		t.Errorf("empty metadata came back as %#v, want nil", got[6].Metadata)
	}
	// No actor field is stored as an empty value: absent is NULL.
	var empties int
	if err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+s.sql.table+" WHERE user_agent = '' OR request_id = '' OR metadata = '{}'::jsonb").Scan(&empties); err != nil || empties != 0 {
		t.Errorf("%d rows hold an empty actor field instead of NULL (%v)", empties, err)
	}
}

// Each filter on the actor fields, alone and with the others, with cursors
// and small pages, returns what a plain scan with Query.Matches returns.
func TestActorFilters(t *testing.T) {
	s := openStore(t, Options{PageSize: 7})
	ctx := context.Background()
	all := storetest.WithActors(events(22, base, 600))
	for i := 0; i < len(all); i += 150 {
		if err := s.Append(ctx, all[i:i+150]...); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(all, auditevents.Compare)
	mid := all[len(all)/2]
	queries := []auditevents.Query{
		{RequestID: "req-120"},
		{RequestID: "req-120", User: "user3@example.com"},
		{RequestID: "req-77", Since: mid.Timestamp},
		{RequestID: "req-none"},
		{IPAddress: netip.MustParsePrefix("10.0.1.7/32")},
		{IPAddress: netip.MustParsePrefix("10.0.1.7/32"), Before: mid.Timestamp},
		{IPAddress: netip.MustParsePrefix("10.0.1.0/24"), Limit: 20},
		{IPAddress: netip.MustParsePrefix("10.0.0.0/8"), Configuration: "config-2"},
		{IPAddress: netip.MustParsePrefix("0.0.0.0/0")},
		{IPAddress: netip.MustParsePrefix("::/0")},
		{IPAddress: netip.MustParsePrefix("2001:db8::3/128")},
		{IPAddress: netip.MustParsePrefix("2001:db8::/32"), After: mid.Cursor()},
		{IPAddress: netip.MustParsePrefix("10.0.2.9/32"), Limit: 4, After: all[len(all)/3].Cursor()},
		{IPAddress: netip.MustParsePrefix("10.0.2.0/24"), RequestID: "req-4"},
		auditevents.Query{RequestID: "req-30"}.InAccount("acme"),
	}
	for _, q := range queries {
		var want []auditevents.AuditEvent
		for _, e := range all {
			if q.Matches(&e) {
				want = append(want, e)
			}
		}
		if q.Limit > 0 && len(want) > q.Limit {
			want = want[:q.Limit]
		}
		if got := collect(t, s, q); idsOf(got) != idsOf(want) {
			t.Errorf("query %+v: got %d events, want %d", q, len(got), len(want))
		}
	}
}

// A table of schema version 3, from before the actor fields, gains their
// columns and indexes when a store opens it, by migration 4: its events
// keep no actor fields (NULL, no backfill), and new events keep theirs.
func TestActorMigration(t *testing.T) {
	ctx := context.Background()
	dsn, admin := testServer(t)
	schema := freshSchema(t)
	s, err := Open(ctx, dsn, &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	old := accountEvents(23, base, 30, "acme")
	if err := s.Append(ctx, old...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	backToSchema(t, schema, 3) // with its events

	s, err = Open(ctx, dsn, &Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got := collect(t, s, auditevents.Query{})
	if len(got) != len(old) {
		t.Fatalf("%d events after the migration, want %d", len(got), len(old))
	}
	for _, e := range got {
		if e.HasActor() || e.Metadata != nil {
			t.Errorf("event %s stored before the migration has actor fields %+v", e.ID, e)
		}
	}
	var version int
	if err := admin.QueryRow(ctx, "SELECT max(version) FROM "+pgx.Identifier{schema, "audit_events_schema_migrations"}.Sanitize()).Scan(&version); err != nil || version != 4 {
		t.Errorf("schema version %d, %v; want 4", version, err)
	}
	more := storetest.WithActors(accountEvents(24, base.Add(time.Hour), 12, "acme"))
	if err := s.Append(ctx, more...); err != nil {
		t.Fatal(err)
	}
	if got := collect(t, s, auditevents.Query{RequestID: "req-1"}); len(got) != 2 {
		t.Errorf("request-id query after the migration: %d events, want 2", len(got))
	}
	if got := collect(t, s, auditevents.Query{IPAddress: netip.MustParsePrefix("10.0.0.0/16")}); len(got) != 6 {
		t.Errorf("ip-address query after the migration: %d events, want 6", len(got))
	}
}

// The actor filters can read the partial indexes: a request ID and one
// address in result order without a sort, a network as a range of the
// address index (its events then sorted by time).
func TestActorIndexes(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	all := storetest.WithActors(events(25, base, 3000))
	if err := s.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE "+s.sql.table); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		q       auditevents.Query
		index   string
		ordered bool // the index yields result order: no sort
	}{
		{"request id", auditevents.Query{RequestID: "req-40"}, "audit_events_request_id_idx", true},
		{"request id in an account", auditevents.Query{RequestID: "req-40"}.InAccount("acme"), "audit_events_request_id_idx", true},
		{"address", auditevents.Query{IPAddress: netip.MustParsePrefix("10.0.1.7/32")}, "audit_events_ip_address_idx", true},
		{"network", auditevents.Query{IPAddress: netip.MustParsePrefix("10.0.1.0/24")}, "audit_events_ip_address_idx", false},
		{"IPv6 network", auditevents.Query{IPAddress: netip.MustParsePrefix("2001:db8::/64")}, "audit_events_ip_address_idx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := s.plan(&tt.q)
			if !ok {
				t.Fatal("plan: no event can match")
			}
			sql, args := s.pageSQL(&p, 1000)
			// A network's addresses come from the index in address order,
			// not in time order: its events are sorted.
			plan := explainWith(t, s, sql, args, "enable_seqscan")
			if tt.ordered {
				plan = explain(t, s, sql, args) // can the index serve it without a sort?
			}
			if !strings.Contains(plan, tt.index) {
				t.Errorf("plan does not use %s:\n%s", tt.index, plan)
			}
			if tt.ordered && strings.Contains(plan, "Sort") {
				t.Errorf("plan sorts:\n%s", plan)
			}
		})
	}
}

// Changing a stored event's IP address with SQL is reported by Verify as a
// modification of its sequence: the leaf covers the actor fields.
func TestLedgerTamperIPAddress(t *testing.T) {
	s := openStore(t, Options{PageSize: 7})
	ctx := context.Background()
	all := accountEvents(26, base, 40, "acme")
	for i := range all {
		all[i].IPAddress = "192.0.2.7"
	}
	if err := s.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	signer, verifier := logKeys(t)
	cp := checkpoint(t, s, signer, "acme")
	if _, err := verify(s, verifier, "acme", cp, nil); err != nil {
		t.Fatalf("Verify before the attack: %v", err)
	}
	attack(t, s, `UPDATE {{table}} SET ip_address = '192.0.2.8' WHERE account = 'acme' AND seq = 17`)
	_, err := verify(s, verifier, "acme", cp, nil)
	var te *auditevents.TamperError
	if !errors.As(err, &te) || te.Problems[0].Kind != auditevents.Modified || te.Problems[0].Seq != 17 {
		t.Fatalf("Verify after changing an IP address = %v, want the event at sequence 17 modified", err)
	}
}

// backToSchema undoes, in the store of the given schema, the migrations
// after version: its tables and columns go, its events stay, as a store of
// that version left them. It undoes migrations 3 and 4.
func backToSchema(tb testing.TB, schema string, version int) {
	tb.Helper()
	_, admin := testServer(tb)
	var sqls []string
	if version < 4 {
		sqls = append(sqls, "ALTER TABLE "+pgx.Identifier{schema, "audit_events"}.Sanitize()+
			" DROP COLUMN ip_address, DROP COLUMN user_agent, DROP COLUMN request_id, DROP COLUMN metadata")
	}
	if version < 3 {
		sqls = append(sqls, "DROP TABLE "+pgx.Identifier{schema, "audit_events_positions"}.Sanitize())
	}
	sqls = append(sqls, fmt.Sprintf("DELETE FROM %s WHERE version > %d", pgx.Identifier{schema, "audit_events_schema_migrations"}.Sanitize(), version))
	for _, sql := range sqls {
		if _, err := admin.Exec(context.Background(), sql); err != nil {
			tb.Fatalf("%s: %v", sql, err)
		}
	}
}
