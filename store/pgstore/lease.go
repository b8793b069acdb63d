package pgstore

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
)

// Leases: the store implements the forward package's Leaser, so that of the
// replicas of a host that share a table, one at a time forwards each route.
// A lease is a session-level advisory lock (pg_try_advisory_lock) on a
// connection of its own, taken out of the pool: it lasts as long as that
// session, so the server lets it go when the holder's process dies or its
// connection is lost, with no expiry to tune. Its key is a 64-bit hash of
// the store's schema and table and the lease's name, apart from the key of
// the migration lock.

// leases are the leases a Store holds, by name.
type leases struct {
	mu     sync.Mutex
	held   map[string]*pgx.Conn // each lease's connection, out of the pool
	closed bool
}

// leaseKey is the advisory lock of the named lease of a table.
func leaseKey(schema, table, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("auditevents/pgstore/lease\x00" + schema + "\x00" + table + "\x00" + name))
	return int64(h.Sum64())
}

// leaseCloseTimeout bounds the goodbye to the server of a lease's
// connection.
const leaseCloseTimeout = 5 * time.Second

// closeConn closes a lease's connection, which lets its lock go.
func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseCloseTimeout)
	defer cancel()
	c.Close(ctx) //nolint:errcheck // the session ends either way
}

// TryLease takes the named lease if no store value holds it, this one
// included, and reports whether it did, as forward.Leaser describes: it
// tries pg_try_advisory_lock on a pooled connection, and on success takes
// that connection out of the pool, for as long as the lease is held. A
// Store holds one connection per lease, beyond its pool's.
func (s *Store) TryLease(ctx context.Context, name string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	s.leases.mu.Lock()
	_, held := s.leases.held[name]
	s.leases.mu.Unlock()
	if held {
		return false, nil
	}
	key := leaseKey(s.opt.Schema, s.opt.Table, name)
	var conn *pgx.Conn
	err := s.retry(ctx, func() error {
		pc, err := s.pool.Acquire(ctx)
		if err != nil {
			return err
		}
		var got bool
		if err := pc.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&got); err != nil {
			pc.Release()
			return err
		}
		if got {
			conn = pc.Hijack()
		} else {
			pc.Release()
		}
		return nil
	})
	if err != nil {
		return false, s.wrap(ctx, "take the lease "+quoteAccount(name), err)
	}
	if conn == nil {
		return false, nil
	}
	s.leases.mu.Lock()
	_, held = s.leases.held[name]
	if s.leases.closed || held {
		// Close ran meanwhile, or another caller of this Store took the
		// lease on another session first (and this lock is a second
		// one, which closing the session lets go).
		s.leases.mu.Unlock()
		closeConn(conn)
		if held {
			return false, nil
		}
		return false, auditevents.ErrClosed
	}
	if s.leases.held == nil {
		s.leases.held = make(map[string]*pgx.Conn)
	}
	s.leases.held[name] = conn
	s.leases.mu.Unlock()
	return true, nil
}

// RenewLease reports whether this Store still holds the named lease, as
// forward.Leaser describes: one round trip on the lease's connection, which
// finds a session that the server ended. A lease it finds lost, it forgets.
func (s *Store) RenewLease(ctx context.Context, name string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	s.leases.mu.Lock()
	conn := s.leases.held[name]
	s.leases.mu.Unlock()
	if conn == nil {
		return false, nil
	}
	// The lock is the session's: it is held as long as the session lives.
	var one int
	err := conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	if err == nil {
		return true, nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil && !conn.IsClosed() {
		return false, ctxErr // the session may live on: the lease is still held
	}
	if s.closed.Load() {
		return false, auditevents.ErrClosed
	}
	s.forget(name, conn)
	if ctxErr := ctx.Err(); ctxErr != nil {
		return false, ctxErr
	}
	return false, nil
}

// forget drops the named lease, held on conn, and closes conn.
func (s *Store) forget(name string, conn *pgx.Conn) {
	s.leases.mu.Lock()
	if s.leases.held[name] == conn {
		delete(s.leases.held, name)
	}
	s.leases.mu.Unlock()
	closeConn(conn)
}

// ReleaseLease lets the named lease go, as forward.Leaser describes: it
// unlocks the advisory lock and returns the connection to the server
// (closes it). Releasing a lease that this Store does not hold does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.leases.mu.Lock()
	conn := s.leases.held[name]
	delete(s.leases.held, name)
	s.leases.mu.Unlock()
	if conn == nil {
		return nil
	}
	// Closing the session lets the lock go too; unlocking first lets it
	// go at once, before the server has ended the session. Should the
	// unlock fail, the session ends all the same.
	conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", leaseKey(s.opt.Schema, s.opt.Table, name)) //nolint:errcheck
	closeConn(conn)
	return nil
}

// closeLeases lets every lease of the store go, for Close.
func (s *Store) closeLeases() {
	s.leases.mu.Lock()
	held := s.leases.held
	s.leases.held, s.leases.closed = nil, true
	s.leases.mu.Unlock()
	for _, conn := range held {
		closeConn(conn)
	}
}
