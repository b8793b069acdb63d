package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
)

// lockTable takes an ACCESS EXCLUSIVE lock on the store's table in a
// transaction of its own, so that every statement of the store on the table
// waits, until the returned function releases it.
func lockTable(tb testing.TB, s *Store) (release func()) {
	tb.Helper()
	_, admin := testServer(tb)
	ctx := context.Background()
	tx, err := admin.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE "+s.sql.table+" IN ACCESS EXCLUSIVE MODE"); err != nil {
		tb.Fatal(err)
	}
	released := false
	release = func() {
		if !released {
			released = true
			if err := tx.Rollback(ctx); err != nil {
				tb.Errorf("release the lock: %v", err)
			}
		}
	}
	tb.Cleanup(release)
	return release
}

// waitingBackend waits until a statement of the store waits for the lock
// that lockTable holds, on a backend other than those given, and returns the
// process ID of its backend. It polls the server's lock table, which is the
// only place that says so.
func waitingBackend(tb testing.TB, s *Store, except ...int) int {
	tb.Helper()
	_, admin := testServer(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for {
		var pid int
		err := admin.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE NOT granted AND relation = $1::regclass AND pid <> ALL($2) LIMIT 1`, s.sql.table, append([]int{}, except...)).Scan(&pid)
		switch {
		case err == nil:
			return pid
		case !errors.Is(err, pgx.ErrNoRows):
			tb.Fatalf("waiting for the store's statement to block on the lock: %v", err)
		}
	}
}

func TestStatementTimeout(t *testing.T) {
	s := openStore(t, Options{StatementTimeout: 50 * time.Millisecond})
	ctx := context.Background()
	release := lockTable(t, s)

	_, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if !errors.Is(err, ErrStatementTimeout) {
		t.Errorf("Query while the table is locked: got %v, want ErrStatementTimeout", err)
	}
	err = s.Append(ctx, events(1, base, 10)...)
	if !errors.Is(err, ErrStatementTimeout) {
		t.Errorf("Append while the table is locked: got %v, want ErrStatementTimeout", err)
	} else if !strings.Contains(err.Error(), "50ms") || !strings.Contains(err.Error(), "pgstore: append") {
		t.Errorf("error %q should say what timed out and the timeout", err)
	}
	release()
	if got := countRows(t, s); got != 0 {
		t.Errorf("rows after the timed-out Append: got %d, want 0", got)
	}
	if err := s.Append(ctx, events(1, base, 10)...); err != nil {
		t.Errorf("Append after the lock is released: %v", err)
	}
}

// TestCancelReleasesConnection cancels queries, appends and prunes blocked on
// the server: each returns the context's error at once, and the pool has no
// connection in use afterwards.
func TestCancelReleasesConnection(t *testing.T) {
	tests := []struct {
		name string
		run  func(ctx context.Context, s *Store) error
	}{
		{"query", func(ctx context.Context, s *Store) error {
			_, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
			return err
		}},
		{"append", func(ctx context.Context, s *Store) error {
			return s.Append(ctx, events(2, base.Add(time.Hour), 5)...)
		}},
		{"prune", func(ctx context.Context, s *Store) error {
			_, err := s.Prune(ctx, base.Add(time.Minute))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One connection: a call after the cancelled one can only run
			// if the cancelled one gave its connection back.
			dsn, _ := testServer(t)
			s, err := Open(context.Background(), dsn+sep(dsn)+"pool_max_conns=1", &Options{Schema: freshSchema(t)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Append(context.Background(), events(1, base, 5)...); err != nil {
				t.Fatal(err)
			}
			release := lockTable(t, s)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tt.run(ctx, s) }()
			waitingBackend(t, s)
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("got %v, want context.Canceled", err)
			}
			// The server cancelled the statement: no backend waits any more.
			var waiting int
			if err := s.pool.QueryRow(context.Background(), "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = $1::regclass", s.sql.table).Scan(&waiting); err != nil {
				t.Fatalf("a statement on the pool after cancellation: %v", err)
			}
			if waiting != 0 {
				t.Errorf("statements still waiting on the server after cancellation: %d", waiting)
			}
			if got := s.pool.Stat().AcquiredConns(); got != 0 {
				t.Errorf("connections in use after cancellation: %d, want 0", got)
			}
			release()
			if got, want := countRows(t, s), 5; got != want {
				t.Errorf("rows after the cancelled call: got %d, want %d", got, want)
			}
			if got := collect(t, s, auditevents.Query{}); len(got) != 5 {
				t.Errorf("Query after cancellation: %d events, want 5", len(got))
			}
		})
	}
}

// TestServerEndsConnection ends the backend of a blocked call, as a server
// restart or failover does: the call goes on with a new connection, and
// should the server end that one too, and the next, it fails with an error
// that says so, without half a batch stored.
func TestServerEndsConnection(t *testing.T) {
	calls := []struct {
		name  string
		run   func(s *Store) error
		added int // events the call adds when it succeeds
	}{
		{"query", func(s *Store) error {
			_, err := auditevents.Collect(s.Query(context.Background(), auditevents.Query{}))
			return err
		}, 0},
		{"append", func(s *Store) error {
			return s.Append(context.Background(), events(2, base.Add(time.Hour), 50)...)
		}, 50},
		{"prune", func(s *Store) error {
			_, err := s.Prune(context.Background(), base.Add(2*time.Millisecond))
			return err
		}, -2},
	}
	for _, call := range calls {
		for _, ends := range []int{1, maxAttempts} {
			name := call.name + "/ended once"
			if ends == maxAttempts {
				name = fmt.Sprintf("%s/ended on all %d attempts", call.name, maxAttempts)
			}
			t.Run(name, func(t *testing.T) {
				s := openStore(t, Options{})
				_, admin := testServer(t)
				if err := s.Append(context.Background(), events(1, base, 5)...); err != nil {
					t.Fatal(err)
				}
				release := lockTable(t, s)
				done := make(chan error, 1)
				go func() { done <- call.run(s) }()
				var ended []int
				for range ends {
					pid := waitingBackend(t, s, ended...)
					if _, err := admin.Exec(context.Background(), "SELECT pg_terminate_backend($1)", pid); err != nil {
						t.Fatal(err)
					}
					ended = append(ended, pid)
				}
				if ends < maxAttempts {
					// The call waits again, on a new connection.
					waitingBackend(t, s, ended...)
				}
				release()
				err := <-done
				rows := 5
				if ends < maxAttempts {
					if err != nil {
						t.Errorf("got %v, want success on a new connection", err)
					}
					rows += call.added
				} else if err == nil || !strings.Contains(err.Error(), "ended the connection") {
					t.Errorf("got %v, want an error saying the server ended the connection", err)
				}
				if got := countRows(t, s); got != rows {
					t.Errorf("rows: got %d, want %d", got, rows)
				}
			})
		}
	}
}
