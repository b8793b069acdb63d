package pgstore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
)

// TestIndexesMatchQueryShapes checks that each query shape, on its first
// page and on the pages after, is answered by an index scan that yields
// rows in result order, with no sort, and with the keyset condition
// inside the index condition rather than a filter over rows read.
func TestIndexesMatchQueryShapes(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	// The filters select rare values, as they do in a large trail, where
	// reading the time index and skipping rows would cost the most.
	all := events(9, base, 3000)
	for i := 0; i < len(all); i += 100 {
		all[i].User, all[i].Account, all[i].Configuration = "rare@example.com", "rare", fmt.Sprintf("rare:%d", i%3)
	}
	if err := s.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, "ANALYZE "+s.sql.table); err != nil {
		t.Fatal(err)
	}
	after := &auditevents.Cursor{Timestamp: base.Add(2 * time.Second), ID: all[2000].ID}
	tests := []struct {
		name  string
		q     auditevents.Query
		index string
	}{
		{"everything", auditevents.Query{}, "audit_events_ts_idx"},
		{"date range", auditevents.Query{Since: base, Before: base.Add(time.Hour)}, "audit_events_ts_idx"},
		{"resource kind", auditevents.Query{ResourceKind: auditevents.KindConfiguration}, "audit_events_ts_idx"},
		{"user", auditevents.Query{User: "rare@example.com"}, "audit_events_user_idx"},
		{"user and dates", auditevents.Query{User: "rare@example.com", Since: base}, "audit_events_user_idx"},
		{"configuration name", auditevents.Query{Configuration: "rare"}, "audit_events_configuration_idx"},
		{"configuration version", auditevents.Query{Configuration: "rare:2"}, "audit_events_configuration_idx"},
		{"account", auditevents.Query{}.InAccount("rare"), "audit_events_account_idx"},
	}
	for _, tt := range tests {
		for _, page := range []string{"first page", "later page"} {
			t.Run(tt.name+"/"+page, func(t *testing.T) {
				p, ok := s.plan(&tt.q)
				if !ok {
					t.Fatal("plan: no event can match")
				}
				if page == "later page" {
					p.after = after
				}
				sql, args := s.pageSQL(&p, 1000)
				plan := explain(t, s, sql, args)
				if !strings.Contains(plan, "Index Scan Backward using "+tt.index) {
					t.Errorf("plan does not scan %s backward:\n%s", tt.index, plan)
				}
				if strings.Contains(plan, "Sort") {
					t.Errorf("plan sorts:\n%s", plan)
				}
				if page == "later page" && !strings.Contains(plan, "ROW(ts, id) < ROW(") {
					t.Errorf("the keyset condition is not an index condition:\n%s", plan)
				}
			})
		}
	}
}

// explain returns the plan of sql, as EXPLAIN writes it, with the planner
// told to avoid the alternatives to an ordered index scan wherever one is
// possible: on a small test table a sequential scan and a sort can be
// cheaper, and the test is whether an index can serve the shape.
func explain(tb testing.TB, s *Store, sql string, args []any) string {
	tb.Helper()
	return explainWith(tb, s, sql, args, "enable_seqscan", "enable_bitmapscan", "enable_sort")
}

// explainWith returns the plan of sql, as EXPLAIN writes it, with the
// planner's settings off turned off.
func explainWith(tb testing.TB, s *Store, sql string, args []any, off ...string) string {
	tb.Helper()
	ctx := context.Background()
	var lines []string
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, set := range off {
			if _, err := tx.Exec(ctx, "SET LOCAL "+set+" = off"); err != nil {
				return err
			}
		}
		rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
		if err != nil {
			return err
		}
		lines, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	if err != nil {
		tb.Fatalf("EXPLAIN %s: %v", sql, err)
	}
	return strings.Join(lines, "\n")
}
