package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

var base = time.Date(2025, 3, 14, 15, 9, 26, 535897000, time.UTC)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) auditevents.Store { return openStore(tb, Options{}) })
}

// TestConformanceSmallPages runs the suite with pages and prune batches of a
// few events, so that every query and prune in it crosses batch boundaries.
func TestConformanceSmallPages(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) auditevents.Store {
		return openStore(tb, Options{PageSize: 3, PruneBatchSize: 2})
	})
}

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		field string
	}{
		{"schema with a quote", Options{Schema: `a"b`}, "Schema"},
		{"schema starting with a digit", Options{Schema: "1abc"}, "Schema"},
		{"schema too long", Options{Schema: strings.Repeat("s", 64)}, "Schema"},
		{"table with a dot", Options{Table: "a.b"}, "Table"},
		{"table with a space", Options{Table: "audit events"}, "Table"},
		{"table too long", Options{Table: strings.Repeat("t", 41)}, "Table"},
		{"negative statement timeout", Options{StatementTimeout: -time.Second}, "StatementTimeout"},
		{"statement timeout under a millisecond", Options{StatementTimeout: time.Microsecond}, "StatementTimeout"},
		{"statement timeout over the server's limit", Options{StatementTimeout: 600 * time.Hour}, "StatementTimeout"},
		{"negative connect timeout", Options{ConnectTimeout: -1}, "ConnectTimeout"},
		{"negative page size", Options{PageSize: -1}, "PageSize"},
		{"negative prune batch", Options{PruneBatchSize: -5}, "PruneBatchSize"},
		{"page size too large", Options{PageSize: 1 << 40}, "PageSize"},
		{"prune batch too large", Options{PruneBatchSize: 1 << 40}, "PruneBatchSize"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The options are checked before connecting: no server is needed.
			_, err := Open(context.Background(), "postgres://127.0.0.1:1/none", &tt.opts)
			if !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("Open: got error %v, want one wrapping ErrInvalidOptions", err)
			}
			if !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name the field %s", err, tt.field)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	// A port that nothing listens on: take one from the kernel and close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := l.Addr().(*net.TCPAddr).Port
	l.Close()

	tests := []struct {
		name    string
		dsn     string
		message string
	}{
		{"malformed URL", "postgres://user:s3cret-pw@host:notaport/db", "malformed DSN"},
		{"unknown setting", "host=localhost bogus_setting=1 sslmode=bad", "malformed DSN"},
		{"nothing listening", fmt.Sprintf("postgres://postgres:s3cret-pw@127.0.0.1:%d/db?sslmode=disable", closedPort), "cannot connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(context.Background(), tt.dsn, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "pgstore: open") {
				t.Errorf("Open: error %q, want it to start with %q and say %q", err, "pgstore: open", tt.message)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Errorf("Open: error %q repeats the password", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	_, admin := testServer(t)
	ctx := context.Background()
	if _, err := New(ctx, nil, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("New(nil pool): got %v, want ErrInvalidOptions", err)
	}
	if _, err := New(ctx, admin, &Options{Schema: freshSchema(t), StatementTimeout: time.Second}); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("New with StatementTimeout: got %v, want ErrInvalidOptions", err)
	}

	// A mixed-case name exercises the quoting of every statement.
	s, err := New(ctx, admin, &Options{Schema: freshSchema(t), Table: "Trail_Events"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	want := events(1, base, 3)
	if err := s.Append(ctx, want...); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if got := collect(t, s, auditevents.Query{User: want[1].User}); len(got) != 1 || got[0].ID != want[1].ID {
		t.Errorf("Query by user: got %v, want %s", idsOf(got), want[1].ID)
	}
	if n, err := s.Prune(ctx, want[1].Timestamp); err != nil || n != 1 {
		t.Errorf("Prune: got %d, %v; want 1, nil", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Append(ctx, events(2, base, 1)...); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
	// Close left the host's pool open.
	if err := admin.Ping(ctx); err != nil {
		t.Fatalf("the host's pool after Close: %v", err)
	}
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM "+s.sql.table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got, want := n, len(want)-1; got != want {
		t.Errorf("rows in %s: got %d, want %d", s.sql.table, got, want)
	}
}

// TestConcurrentOpen starts several replicas at once on a database without
// the schema: each must open, and the schema must be migrated once.
func TestConcurrentOpen(t *testing.T) {
	dsn, admin := testServer(t)
	schema := freshSchema(t)
	const replicas = 6
	stores := make([]*Store, replicas)
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(context.Background(), dsn, &Options{Schema: schema}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { stores[i].Close() })
	}
	var applied []int
	rows, err := admin.Query(context.Background(), "SELECT version FROM "+schema+".audit_events_schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		applied = append(applied, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var want []int
	for _, m := range migrations {
		want = append(want, m.version)
	}
	if !slices.Equal(applied, want) {
		t.Errorf("applied migrations: got %v, want %v", applied, want)
	}
	// Every replica works on the one table.
	for i, s := range stores {
		if err := s.Append(context.Background(), events(uint64(i+1), base, 1)...); err != nil {
			t.Fatalf("replica %d: Append: %v", i, err)
		}
	}
	if got := collect(t, stores[0], auditevents.Query{}); len(got) != replicas {
		t.Errorf("events seen by replica 0: got %d, want %d", len(got), replicas)
	}
}

func TestSchemaNewerThanCode(t *testing.T) {
	s := openStore(t, Options{})
	_, admin := testServer(t)
	if _, err := admin.Exec(context.Background(), "INSERT INTO "+s.opt.Schema+".audit_events_schema_migrations (version, description) VALUES (999, 'from the future')"); err != nil {
		t.Fatal(err)
	}
	dsn, _ := testServer(t)
	s2, err := Open(context.Background(), dsn, &Options{Schema: s.opt.Schema})
	if err == nil {
		s2.Close()
		t.Fatal("Open on a schema at version 999 succeeded, want an error")
	}
	if !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), "upgrade") {
		t.Errorf("error %q should name the version and say to upgrade", err)
	}
}

// TestSeveralWriters appends from several stores, each with its own pool, at
// once to one table: every event is stored once, and every store reads the
// same events in the same order.
func TestSeveralWriters(t *testing.T) {
	schema := freshSchema(t)
	const writers, batches, perBatch = 4, 25, 40
	stores := make([]*Store, writers)
	for i := range stores {
		stores[i] = openStore(t, Options{Schema: schema, PageSize: 64})
	}
	var all []auditevents.AuditEvent
	work := make([][][]auditevents.AuditEvent, writers)
	for w := range writers {
		for b := range batches {
			// Interleaved timestamps, so that writers' events mix in the
			// result and many share a millisecond.
			batch := events(uint64(w*1000+b+1), base.Add(time.Duration(b)*time.Millisecond), perBatch)
			work[w] = append(work[w], batch)
			all = append(all, batch...)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w, s := range stores {
		wg.Go(func() {
			for _, batch := range work[w] {
				if err := s.Append(context.Background(), batch...); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	want := make([]auditevents.AuditEvent, len(all))
	for i, e := range all {
		want[i] = auditevents.Normalize(e)
	}
	slices.SortFunc(want, auditevents.Compare)
	for i, s := range stores {
		got := collect(t, s, auditevents.Query{})
		if got, want := idsOf(got), idsOf(want); got != want {
			t.Errorf("store %d: read %d IDs, not the %d stored, in order", i, strings.Count(got, " ")+1, len(all))
		}
	}
	if got, want := countRows(t, stores[0]), len(all); got != want {
		t.Errorf("rows: got %d, want %d", got, want)
	}
}

// TestDuplicateAcrossStores appends the same batch from two stores at once:
// exactly one succeeds, the other gets ErrDuplicateID naming an ID of the
// batch, and the batch is stored once.
func TestDuplicateAcrossStores(t *testing.T) {
	schema := freshSchema(t)
	a, b := openStore(t, Options{Schema: schema}), openStore(t, Options{Schema: schema})
	batch := events(7, base, 50)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() { errs[i] = s.Append(context.Background(), batch...) })
	}
	wg.Wait()
	failed := 0
	for _, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if !errors.Is(err, auditevents.ErrDuplicateID) {
			t.Errorf("Append: got %v, want ErrDuplicateID", err)
		} else if !strings.Contains(err.Error(), batch[0].ID) {
			t.Errorf("error %q should name the batch's first ID %s, the first one already stored", err, batch[0].ID)
		}
	}
	if failed != 1 {
		t.Errorf("got %d failed appends (%v), want exactly 1", failed, errs)
	}
	if got, want := countRows(t, a), len(batch); got != want {
		t.Errorf("rows: got %d, want %d", got, want)
	}
}

// TestDuplicateNamesID checks that the error names the stored ID, not just
// any ID of the batch, and that nothing of the batch is stored.
func TestDuplicateNamesID(t *testing.T) {
	s := openStore(t, Options{})
	ctx := context.Background()
	batch := events(3, base, 10)
	if err := s.Append(ctx, batch[6]); err != nil {
		t.Fatal(err)
	}
	err := s.Append(ctx, batch...)
	if !errors.Is(err, auditevents.ErrDuplicateID) {
		t.Fatalf("Append: got %v, want ErrDuplicateID", err)
	}
	if !strings.Contains(err.Error(), batch[6].ID) {
		t.Errorf("error %q should name %s", err, batch[6].ID)
	}
	if got, want := countRows(t, s), 1; got != want {
		t.Errorf("rows after the failed batch: got %d, want %d", got, want)
	}
}

// TestMatchesSemantics compares the store's results with Query.Matches for
// bounds the SQL must translate with care: finer than a microsecond, outside
// the years 1 to 9999, and cursors between stored timestamps.
func TestMatchesSemantics(t *testing.T) {
	s := openStore(t, Options{PageSize: 4})
	all := events(11, base, 30)
	for i := range all {
		// Several events share each microsecond; some are a nanosecond past it.
		all[i].Timestamp = base.Add(time.Duration(i/3)*time.Microsecond + time.Duration(i%2))
	}
	if err := s.Append(context.Background(), all...); err != nil {
		t.Fatal(err)
	}
	norm := make([]auditevents.AuditEvent, len(all))
	for i, e := range all {
		norm[i] = auditevents.Normalize(e)
	}
	slices.SortFunc(norm, auditevents.Compare)
	at := func(us int, ns time.Duration) time.Time {
		return base.Truncate(time.Microsecond).Add(time.Duration(us)*time.Microsecond + ns)
	}
	mid := norm[len(norm)/2]
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"since on a microsecond", auditevents.Query{Since: at(3, 0)}},
		{"since a nanosecond past", auditevents.Query{Since: at(3, 1)}},
		{"before on a microsecond", auditevents.Query{Before: at(5, 0)}},
		{"before a nanosecond past", auditevents.Query{Before: at(5, 1)}},
		{"before a nanosecond short", auditevents.Query{Before: at(5, -1)}},
		{"range within a microsecond", auditevents.Query{Since: at(4, 1), Before: at(4, 999)}},
		{"since year 0", auditevents.Query{Since: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"since year 10000", auditevents.Query{Since: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"before year 1", auditevents.Query{Before: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"before year 20000", auditevents.Query{Before: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"since in another zone", auditevents.Query{Since: at(6, 0).In(time.FixedZone("x", 5*3600))}},
		{"cursor at an event", auditevents.Query{After: mid.Cursor()}},
		{"cursor a nanosecond past an event", auditevents.Query{After: auditevents.Cursor{Timestamp: mid.Timestamp.Add(1), ID: mid.ID}}},
		{"cursor in year 9999", auditevents.Query{After: auditevents.Cursor{Timestamp: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), ID: mid.ID}}},
		{"cursor in year 20000", auditevents.Query{After: auditevents.Cursor{Timestamp: time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), ID: mid.ID}}},
		{"cursor before year 1", auditevents.Query{After: auditevents.Cursor{Timestamp: time.Date(0, 6, 1, 0, 0, 0, 0, time.UTC), ID: mid.ID}}},
		{"configuration name", auditevents.Query{Configuration: "config-2"}},
		{"configuration version", auditevents.Query{Configuration: "config-2:1"}},
		{"configuration version that is not a number", auditevents.Query{Configuration: "config-2:x"}},
		{"account empty", auditevents.Query{}.InAccount("")},
		{"user with a NUL byte", auditevents.Query{User: "user3@example.com\x00"}},
		{"user not UTF-8", auditevents.Query{User: "\xff"}},
		{"configuration with a NUL byte", auditevents.Query{Configuration: "config-1\x00:1"}},
		{"resource name not UTF-8", auditevents.Query{ResourceName: "config-\xc3"}},
		{"action with a NUL byte", auditevents.Query{Action: "\x00"}},
		{"account not UTF-8", auditevents.Query{}.InAccount("acme\xff")},
		{"everything with a limit", auditevents.Query{User: "user3@example.com", Since: at(1, 1), Limit: 2}.InAccount("acme")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var want []auditevents.AuditEvent
			for _, e := range norm {
				if tt.q.Matches(&e) {
					want = append(want, e)
				}
			}
			if tt.q.Limit > 0 && len(want) > tt.q.Limit {
				want = want[:tt.q.Limit]
			}
			if got, want := idsOf(collect(t, s, tt.q)), idsOf(want); got != want {
				t.Errorf("Query(%+v):\n got  %s\n want %s", tt.q, got, want)
			}
		})
	}
}

// TestQueryHoldsNoConnectionInLoop checks that the loop body runs with no
// connection held, so that it may append even when the pool has one
// connection.
func TestQueryHoldsNoConnectionInLoop(t *testing.T) {
	dsn, _ := testServer(t)
	schema := freshSchema(t)
	s, err := Open(context.Background(), dsn+sep(dsn)+"pool_max_conns=1", &Options{Schema: schema, PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Append(ctx, events(1, base, 5)...); err != nil {
		t.Fatal(err)
	}
	extra := events(2, base.Add(-time.Hour), 5)
	slices.Reverse(extra) // each older than the one before
	seen := 0
	for e, err := range s.Query(ctx, auditevents.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		if got := s.pool.Stat().AcquiredConns(); got != 0 {
			t.Fatalf("connections held in the loop body: %d, want 0", got)
		}
		// Older than every event so far: the query reaches it later.
		if seen < len(extra) {
			if err := s.Append(ctx, extra[seen]); err != nil {
				t.Fatalf("Append inside the loop: %v", err)
			}
		}
		if e.Timestamp.Before(base) != (seen >= 5) {
			t.Errorf("event %d at %s: the 5 stored events come first, then the 5 older ones", seen, e.Timestamp)
		}
		seen++
	}
	if got, want := seen, 10; got != want {
		t.Errorf("events seen: got %d, want %d (the 5 stored and the 5 appended behind the query's position)", got, want)
	}
}

// sep returns the separator that appends a parameter to dsn.
func sep(dsn string) string {
	switch {
	case !strings.Contains(dsn, "://"):
		return " "
	case strings.Contains(dsn, "?"):
		return "&"
	}
	return "?"
}

func TestPruneBatchesAndConcurrentPrunes(t *testing.T) {
	schema := freshSchema(t)
	a := openStore(t, Options{Schema: schema, PruneBatchSize: 7})
	b := openStore(t, Options{Schema: schema, PruneBatchSize: 5})
	ctx := context.Background()
	all := events(5, base, 200)
	if err := a.Append(ctx, all...); err != nil {
		t.Fatal(err)
	}
	cut := all[150].Timestamp // events 0..149 are older
	counts := make([]int, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() { counts[i], errs[i] = s.Prune(ctx, cut) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Prune %d: %v", i, err)
		}
	}
	if got, want := counts[0]+counts[1], 150; got != want {
		t.Errorf("events deleted by both Prunes: got %d (%v), want %d", got, counts, want)
	}
	if got, want := countRows(t, a), 50; got != want {
		t.Errorf("rows left: got %d, want %d", got, want)
	}
	if got := collect(t, a, auditevents.Query{Before: cut}); len(got) != 0 {
		t.Errorf("events older than the cut after Prune: %d", len(got))
	}
}

// TestLeastPrivilege opens, as a user that may only read, insert and delete
// in the tables, and update the log's, a store that an owner created: no
// DDL runs once the schema is up to date.
func TestLeastPrivilege(t *testing.T) {
	owner := openStore(t, Options{})
	_, admin := testServer(t)
	ctx := context.Background()
	role := owner.opt.Schema + "_app"
	quoted := pgx.Identifier{role}.Sanitize()
	schema := pgx.Identifier{owner.opt.Schema}.Sanitize()
	for _, stmt := range []string{
		"CREATE ROLE " + quoted + " LOGIN PASSWORD 'app-secret'",
		"GRANT USAGE ON SCHEMA " + schema + " TO " + quoted,
		"GRANT SELECT, INSERT, DELETE ON ALL TABLES IN SCHEMA " + schema + " TO " + quoted,
		"GRANT UPDATE ON " + owner.sql.log.heads + ", " + owner.sql.log.tree + ", " + owner.sql.log.pruned + " TO " + quoted,
	} {
		if _, err := admin.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		for _, stmt := range []string{"DROP OWNED BY " + quoted, "DROP ROLE " + quoted} {
			if _, err := admin.Exec(context.Background(), stmt); err != nil {
				t.Errorf("%s: %v", stmt, err)
			}
		}
	})
	cfg := admin.Config().Copy()
	cfg.ConnConfig.User, cfg.ConnConfig.Password = role, "app-secret"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s, err := New(ctx, pool, &Options{Schema: owner.opt.Schema})
	if err != nil {
		t.Fatalf("New as a user without CREATE rights: %v", err)
	}
	defer s.Close()
	batch := events(4, base, 20)
	if err := s.Append(ctx, batch...); err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := s.Append(ctx, batch[3]); !errors.Is(err, auditevents.ErrDuplicateID) {
		t.Errorf("Append of a stored ID: got %v, want ErrDuplicateID", err)
	}
	if got := collect(t, s, auditevents.Query{}); len(got) != len(batch) {
		t.Errorf("Query: %d events, want %d", len(got), len(batch))
	}
	if n, err := s.Prune(ctx, base.Add(time.Hour)); err != nil || n != len(batch) {
		t.Errorf("Prune: %d, %v; want %d, nil", n, err, len(batch))
	}

	// Without the schema, the same user gets an error that says what failed.
	_, err = New(ctx, pool, &Options{Schema: freshSchema(t)})
	if err == nil || !strings.Contains(err.Error(), "create schema") {
		t.Errorf("New on a missing schema without CREATE rights: got %v, want an error about creating the schema", err)
	}
}

// TestDatabaseEncoding refuses a database whose encoding cannot hold every
// event, at Open rather than at the first event it cannot store.
func TestDatabaseEncoding(t *testing.T) {
	_, admin := testServer(t)
	ctx := context.Background()
	name := fmt.Sprintf("pgstore_test_latin1_%d", os.Getpid())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"); err != nil {
		t.Skipf("cannot create a LATIN1 database to test with: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg := admin.Config().Copy()
	cfg.ConnConfig.Database = name
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	_, err = New(ctx, pool, nil)
	if err == nil || !strings.Contains(err.Error(), "LATIN1") {
		t.Errorf("New on a LATIN1 database: got %v, want an error naming the encoding", err)
	}
}
