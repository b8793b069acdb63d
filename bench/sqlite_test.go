package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// TestSQLiteConformance holds the SQLite baselines to the Store contract, so
// that they are compared with our stores on the same semantics: the same
// filters, bounds, order and paging.
func TestSQLiteConformance(t *testing.T) {
	for _, d := range sqliteDrivers() {
		t.Run(d.label, func(t *testing.T) {
			storetest.Run(t, func(tb testing.TB) auditevents.Store {
				tb.Helper()
				s, err := openSQLite(d, tb.TempDir()+"/events.db", "NORMAL")
				if err != nil {
					tb.Fatal(err)
				}
				return s
			})
		})
	}
}

// TestSQLiteActorFields holds the SQLite baselines to the actor fields:
// they come back as appended, absent ones absent, and the request-id and
// ip-address filters return what Query.Matches selects.
func TestSQLiteActorFields(t *testing.T) {
	ctx := context.Background()
	events := storetest.NewGenerator(3).Events(300)
	for i := range events {
		e := &events[i]
		switch i % 3 {
		case 0:
			e.IPAddress = fmt.Sprintf("10.0.%d.%d", i%4, i%9)
			e.RequestID = fmt.Sprintf("req-%d", i/2)
		case 1:
			e.IPAddress = fmt.Sprintf("2001:db8::%x", i%6)
			e.UserAgent = "curl/8.5.0"
			e.Metadata = map[string]string{"region": "eu", "n": fmt.Sprint(i)}
		}
		*e = auditevents.Normalize(*e)
	}
	queries := []auditevents.Query{
		{},
		{RequestID: "req-10"},
		{IPAddress: netip.MustParsePrefix("10.0.1.0/24")},
		{IPAddress: netip.MustParsePrefix("10.0.2.5/32")},
		{IPAddress: netip.MustParsePrefix("10.0.0.0/8"), RequestID: "req-30"},
		{IPAddress: netip.MustParsePrefix("2001:db8::/32")},
		{IPAddress: netip.MustParsePrefix("0.0.0.0/0")},
	}
	for _, d := range sqliteDrivers() {
		t.Run(d.label, func(t *testing.T) {
			s, err := openSQLite(d, t.TempDir()+"/events.db", "NORMAL")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Append(ctx, events...); err != nil {
				t.Fatal(err)
			}
			for _, q := range queries {
				var want []auditevents.AuditEvent
				for _, e := range events {
					if q.Matches(&e) {
						want = append(want, e)
					}
				}
				slices.SortFunc(want, auditevents.Compare)
				got, err := auditevents.Collect(s.Query(ctx, q))
				if err != nil {
					t.Fatal(err)
				}
				if !slices.EqualFunc(got, want, func(a, b auditevents.AuditEvent) bool { return a.Equal(&b) }) {
					t.Errorf("query %+v: got %d events, want %d", q, len(got), len(want))
				}
			}
		})
	}
}
