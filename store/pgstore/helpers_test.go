package pgstore

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dsnEnv names the environment variable that tells the tests which
// PostgreSQL server to use. The user it names must be allowed to create
// schemas in the database.
const dsnEnv = "AUDITEVENTS_PG_DSN"

var server struct {
	once  sync.Once
	dsn   string
	admin *pgxpool.Pool
	err   error
}

// testServer returns the DSN of the test server and a pool on it for the
// tests' own statements. Without AUDITEVENTS_PG_DSN it tries libpq's
// defaults (PGHOST and so on); when no server is reachable that way it skips
// the test, or fails it when CI is "true", since CI must run these tests.
func testServer(tb testing.TB) (string, *pgxpool.Pool) {
	tb.Helper()
	server.once.Do(func() {
		dsn, fromEnv := os.LookupEnv(dsnEnv)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			server.err = fmt.Errorf("%s: %w", dsnEnv, err)
			return
		}
		if cfg.ConnConfig.ConnectTimeout == 0 {
			cfg.ConnConfig.ConnectTimeout = 3 * time.Second
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			if pool != nil {
				pool.Close()
			}
			if fromEnv {
				server.err = fmt.Errorf("%s is set but the server cannot be used: %w", dsnEnv, err)
			} else {
				server.err = fmt.Errorf("no PostgreSQL server reachable with libpq's defaults (%w)", err)
			}
			return
		}
		server.dsn, server.admin = dsn, pool
	})
	if server.err != nil {
		_, fromEnv := os.LookupEnv(dsnEnv)
		if fromEnv || os.Getenv("CI") == "true" {
			tb.Fatalf("pgstore tests need PostgreSQL: %v", server.err)
		}
		tb.Skipf("skipping: %v. To run these tests, set %s to a server where the user may create schemas, "+
			"such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable; .ci/run starts a throwaway server "+
			"with .ci/setup.d/postgres.sh and sets it", server.err, dsnEnv)
	}
	return server.dsn, server.admin
}

var schemaSeq atomic.Int64

// freshSchema returns the name of a schema that does not exist yet, and
// drops it, with everything in it, when the test ends.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	_, admin := testServer(tb)
	name := fmt.Sprintf("pgstore_test_%d_%d", os.Getpid(), schemaSeq.Add(1))
	drop := func() error {
		_, err := admin.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		return err
	}
	if err := drop(); err != nil {
		tb.Fatalf("drop schema %s: %v", name, err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// openStore opens a Store on a fresh schema of the test server with the
// given options (Schema is filled in), closed when the test ends.
func openStore(tb testing.TB, opts Options) *Store {
	tb.Helper()
	dsn, _ := testServer(tb)
	if opts.Schema == "" {
		opts.Schema = freshSchema(tb)
	}
	s, err := Open(context.Background(), dsn, &opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// events makes n valid events, starting at start and one millisecond apart,
// with IDs from a storetest.Generator seeded with seed (the same seed makes
// the same IDs) and users, accounts and configurations cycling through a
// few values, which the tests query by.
func events(seed uint64, start time.Time, n int) []auditevents.AuditEvent {
	g := storetest.NewGenerator(seed)
	out := make([]auditevents.AuditEvent, n)
	for i := range out {
		e := g.Event(start.Add(time.Duration(i) * time.Millisecond))
		e.Account = []string{"", "acme", "globex"}[i%3]
		e.User = fmt.Sprintf("user%d@example.com", i%7)
		e.Action = []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted}[i%3]
		e.ResourceKind = auditevents.KindConfiguration
		e.ResourceName = fmt.Sprintf("config-%d", i%5)
		e.Configuration = fmt.Sprintf("config-%d:%d", i%5, i%4)
		if i%4 == 0 {
			e.Configuration = fmt.Sprintf("config-%d", i%5)
		}
		e.Description = "event " + fmt.Sprint(i)
		out[i] = e
	}
	return out
}

// collect runs q and fails the test on error.
func collect(tb testing.TB, s auditevents.Store, q auditevents.Query) []auditevents.AuditEvent {
	tb.Helper()
	got, err := auditevents.Collect(s.Query(context.Background(), q))
	if err != nil {
		tb.Fatalf("Query(%+v): %v", q, err)
	}
	return got
}

func idsOf(events []auditevents.AuditEvent) string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return strings.Join(ids, " ")
}

// countRows returns how many events the store's table holds.
func countRows(tb testing.TB, s *Store) int {
	tb.Helper()
	var n int
	if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM "+s.sql.table).Scan(&n); err != nil {
		tb.Fatalf("count rows: %v", err)
	}
	return n
}
