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
	held   map[string]*lease
	closed bool
}

// lease is a lease a Store holds: its connection, out of the pool. mu
// serialises the uses of conn, which is not safe for concurrent use:
// RenewLease and Close.
type lease struct {
	mu     sync.Mutex
	conn   *pgx.Conn
	closed bool // conn is closed
}

// close closes the lease's connection, which lets its lock go.
func (l *lease) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		closeConn(l.conn)
	}
}

// leaseKey is the advisory lock of the named lease of a table.
func leaseKey(schema, table, name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("auditevents/pgstore/lease\x00" + schema + "\x00" + table + "\x00" + name))
	return int64(h.Sum64())
}

// leaseCloseTimeout bounds the goodbye to the server of a lease's
// connection, and leaseRenewTimeout a renewal: a lease whose connection
// does not answer within it is taken for lost.
const (
	leaseCloseTimeout = 5 * time.Second
	leaseRenewTimeout = 10 * time.Second
)

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
		s.leases.held = make(map[string]*lease)
	}
	s.leases.held[name] = &lease{conn: conn}
	s.leases.mu.Unlock()
	return true, nil
}

// RenewLease reports whether this Store still holds the named lease, as
// forward.Leaser describes: one round trip on the lease's connection, which
// finds a session that the server ended. A lease whose connection fails, or
// does not answer within 10 seconds, is taken for lost: its connection is
// closed, so that its lock is let go if the session still lives.
func (s *Store) RenewLease(ctx context.Context, name string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	s.leases.mu.Lock()
	l := s.leases.held[name]
	s.leases.mu.Unlock()
	if l == nil {
		return false, nil
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, s.check(ctx)
	}
	// The lock is the session's: it is held as long as the session lives.
	rctx, cancel := context.WithTimeout(ctx, leaseRenewTimeout)
	var one int
	err := l.conn.QueryRow(rctx, "SELECT 1").Scan(&one)
	cancel()
	open := !l.conn.IsClosed()
	l.mu.Unlock()
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil && open:
		return false, ctx.Err() // the session may live on, and the lease with it
	}
	s.leases.mu.Lock()
	if s.leases.held[name] == l {
		delete(s.leases.held, name)
	}
	s.leases.mu.Unlock()
	l.close()
	if err := s.check(ctx); err != nil {
		return false, err
	}
	return false, nil
}

// ReleaseLease lets the named lease go, as forward.Leaser describes: it
// unlocks the advisory lock and returns the connection to the server
// (closes it). Releasing a lease that this Store does not hold does nothing.
func (s *Store) ReleaseLease(ctx context.Context, name string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	s.leases.mu.Lock()
	l := s.leases.held[name]
	delete(s.leases.held, name)
	s.leases.mu.Unlock()
	if l == nil {
		return nil
	}
	// Closing the session lets the lock go too; unlocking first lets it
	// go at once, before the server has ended the session. Should the
	// unlock fail, the session ends all the same.
	l.mu.Lock()
	if !l.closed {
		l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", leaseKey(s.opt.Schema, s.opt.Table, name)) //nolint:errcheck
	}
	l.mu.Unlock()
	l.close()
	return nil
}

// closeLeases lets every lease of the store go, for Close.
func (s *Store) closeLeases() {
	s.leases.mu.Lock()
	held := s.leases.held
	s.leases.held, s.leases.closed = nil, true
	s.leases.mu.Unlock()
	// Unlock first, as ReleaseLease does, so that another replica can
	// take each lease as soon as Close returns, not only once the server
	// has ended the session.
	for name, l := range held {
		l.mu.Lock()
		if !l.closed {
			ctx, cancel := context.WithTimeout(context.Background(), leaseCloseTimeout)
			l.conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", leaseKey(s.opt.Schema, s.opt.Table, name)) //nolint:errcheck // closing the session lets it go all the same
			cancel()
		}
		l.mu.Unlock()
		l.close()
	}
}
