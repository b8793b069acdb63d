package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/auditevents/auditevents"
)

// sqliteSchema is the table a careful user would make for audit events: one
// row per event with the timestamp as integer microseconds, and an index for
// each way the API filters, each ending in (ts, id) so that a filtered query
// reads its rows in result order without sorting. config_name holds the
// name part of the configuration, so that both forms of the configuration
// filter ("name", every version; "name:3", one version) use its index, as
// our stores' configuration index does.
const sqliteSchema = `
CREATE TABLE IF NOT EXISTS events (
	id            TEXT    NOT NULL UNIQUE,
	ts            INTEGER NOT NULL,
	account       TEXT    NOT NULL,
	user          TEXT    NOT NULL,
	action        TEXT    NOT NULL,
	kind          TEXT    NOT NULL,
	resource_name TEXT    NOT NULL,
	configuration TEXT    NOT NULL,
	config_name   TEXT    NOT NULL,
	description   TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_ts            ON events (ts, id);
CREATE INDEX IF NOT EXISTS events_user_ts       ON events (user, ts, id);
CREATE INDEX IF NOT EXISTS events_config_ts     ON events (config_name, ts, id);
CREATE INDEX IF NOT EXISTS events_account_ts    ON events (account, ts, id);
`

const sqliteInsert = `INSERT INTO events
	(id, ts, account, user, action, kind, resource_name, configuration, config_name, description)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// sqliteDriver is one SQLite driver for database/sql.
type sqliteDriver struct {
	name   string // the driver's registered name
	label  string // its name in the tables
	dsn    func(path, synchronous string) string
	unique func(error) bool // whether err is a UNIQUE constraint violation
}

// sqliteAdapters returns, for each driver in this build, SQLite with
// synchronous=FULL (durable, the baseline) and with synchronous=NORMAL (not
// durable in WAL mode: a power loss may lose the last commits).
func sqliteAdapters() []Adapter {
	var out []Adapter
	for _, d := range sqliteDrivers() {
		for _, sync := range []string{"FULL", "NORMAL"} {
			out = append(out, Adapter{
				Name:       d.label + " " + sync,
				Baseline:   true,
				Durable:    sync == "FULL",
				WritesOnly: sync == "NORMAL",
				Persistent: true,
				Open: func(dir string) (Subject, error) {
					return openSQLite(d, filepath.Join(dir, "events.db"), sync)
				},
			})
		}
	}
	return out
}

// sqliteStore is an [auditevents.Store] on one SQLite table. Writes go
// through a pool of one connection (SQLite has one writer at a time, and a
// single connection spares the writers busy retries); reads through a pool
// of several. Every statement is prepared once.
type sqliteStore struct {
	driver sqliteDriver
	path   string
	w, r   *sql.DB
	insert *sql.Stmt
	closed atomic.Bool

	mu      sync.Mutex
	queries map[uint]*sql.Stmt // by the filters present, see queryMask
}

var _ auditevents.Store = (*sqliteStore)(nil)

func openSQLite(d sqliteDriver, path, synchronous string) (*sqliteStore, error) {
	w, err := sql.Open(d.name, d.dsn(path, synchronous))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	s := &sqliteStore{driver: d, path: path, w: w, queries: make(map[uint]*sql.Stmt)}
	if _, err := w.Exec(sqliteSchema); err != nil {
		w.Close()
		return nil, fmt.Errorf("creating the schema in %s: %w", path, err)
	}
	if s.insert, err = w.Prepare(sqliteInsert); err != nil {
		w.Close()
		return nil, fmt.Errorf("preparing the insert: %w", err)
	}
	if s.r, err = sql.Open(d.name, d.dsn(path, synchronous)); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s.r.SetMaxOpenConns(4)
	s.r.SetMaxIdleConns(4)
	return s, nil
}

// Append inserts the batch in one transaction.
func (s *sqliteStore) Append(ctx context.Context, events ...auditevents.AuditEvent) error {
	if s.closed.Load() {
		return auditevents.ErrClosed
	}
	if len(events) == 0 {
		return ctx.Err()
	}
	prepared, err := auditevents.PrepareBatch(events)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: beginning a transaction: %w", err)
	}
	defer tx.Rollback()
	ins := tx.StmtContext(ctx, s.insert)
	for i := range prepared {
		e := &prepared[i]
		name, _ := auditevents.SplitConfiguration(e.Configuration)
		if _, err := ins.ExecContext(ctx, e.ID, e.Timestamp.UnixMicro(), e.Account, e.User, string(e.Action),
			string(e.ResourceKind), e.ResourceName, e.Configuration, name, e.Description); err != nil {
			if s.driver.unique(err) {
				return &auditevents.DuplicateIDError{ID: e.ID}
			}
			return fmt.Errorf("sqlite: inserting event %s: %w", e.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: committing: %w", err)
	}
	return nil
}

// The filters of a query, as bits of its statement's cache key.
const (
	qAccount uint = 1 << iota
	qUser
	qConfigName
	qConfiguration
	qKind
	qResourceName
	qAction
	qSince
	qBefore
	qAfter
	qAfterTS // a cursor between microseconds: only the timestamp bounds
	qLimit
)

// ceilMicro returns t in microseconds, rounded up: a stored timestamp (whole
// microseconds) is at or after t exactly when it is at or after ceilMicro(t).
func ceilMicro(t time.Time) int64 {
	us := t.UnixMicro()
	if t.Sub(time.UnixMicro(us)) > 0 {
		us++
	}
	return us
}

// queryArgs returns the filters of q as a mask and the statement's
// arguments, in the order sqliteQuerySQL writes the placeholders.
func queryArgs(q *auditevents.Query) (uint, []any) {
	var mask uint
	var args []any
	if q.Account != nil {
		mask |= qAccount
		args = append(args, *q.Account)
	}
	if q.User != "" {
		mask |= qUser
		args = append(args, q.User)
	}
	if q.Configuration != "" {
		name, version := auditevents.SplitConfiguration(q.Configuration)
		mask |= qConfigName
		args = append(args, name)
		if version != "" {
			mask |= qConfiguration
			args = append(args, q.Configuration)
		}
	}
	if q.ResourceKind != "" {
		mask |= qKind
		args = append(args, string(q.ResourceKind))
	}
	if q.ResourceName != "" {
		mask |= qResourceName
		args = append(args, q.ResourceName)
	}
	if q.Action != "" {
		mask |= qAction
		args = append(args, string(q.Action))
	}
	if !q.Since.IsZero() {
		mask |= qSince
		args = append(args, ceilMicro(q.Since))
	}
	if !q.Before.IsZero() {
		mask |= qBefore
		args = append(args, ceilMicro(q.Before))
	}
	if !q.After.IsZero() {
		if us := q.After.Timestamp.UnixMicro(); time.UnixMicro(us).Equal(q.After.Timestamp) {
			mask |= qAfter
			args = append(args, us, q.After.ID)
		} else {
			mask |= qAfterTS
			args = append(args, ceilMicro(q.After.Timestamp))
		}
	}
	if q.Limit > 0 {
		mask |= qLimit
		args = append(args, q.Limit)
	}
	return mask, args
}

// sqliteQuerySQL returns the SELECT for the filters in mask.
func sqliteQuerySQL(mask uint) string {
	var b strings.Builder
	b.WriteString("SELECT id, ts, account, user, action, kind, resource_name, configuration, description FROM events")
	conds := []struct {
		bit  uint
		cond string
	}{
		{qAccount, "account = ?"},
		{qUser, "user = ?"},
		{qConfigName, "config_name = ?"},
		{qConfiguration, "configuration = ?"},
		{qKind, "kind = ?"},
		{qResourceName, "resource_name = ?"},
		{qAction, "action = ?"},
		{qSince, "ts >= ?"},
		{qBefore, "ts < ?"},
		{qAfter, "(ts, id) < (?, ?)"},
		{qAfterTS, "ts < ?"},
	}
	sep := " WHERE "
	for _, c := range conds {
		if mask&c.bit != 0 {
			b.WriteString(sep)
			b.WriteString(c.cond)
			sep = " AND "
		}
	}
	b.WriteString(" ORDER BY ts DESC, id DESC")
	if mask&qLimit != 0 {
		b.WriteString(" LIMIT ?")
	}
	return b.String()
}

func (s *sqliteStore) stmt(ctx context.Context, mask uint) (*sql.Stmt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.queries[mask]; ok {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, sqliteQuerySQL(mask))
	if err != nil {
		return nil, fmt.Errorf("sqlite: preparing a query: %w", err)
	}
	s.queries[mask] = st
	return st, nil
}

// Query streams the rows that match q, newest first.
func (s *sqliteStore) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		if err := q.Validate(); err != nil {
			yield(auditevents.AuditEvent{}, err)
			return
		}
		if s.closed.Load() {
			yield(auditevents.AuditEvent{}, auditevents.ErrClosed)
			return
		}
		mask, args := queryArgs(&q)
		st, err := s.stmt(ctx, mask)
		if err != nil {
			yield(auditevents.AuditEvent{}, err)
			return
		}
		rows, err := st.QueryContext(ctx, args...)
		if err != nil {
			yield(auditevents.AuditEvent{}, fmt.Errorf("sqlite: querying: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var (
				e            auditevents.AuditEvent
				us           int64
				action, kind string
			)
			if err := rows.Scan(&e.ID, &us, &e.Account, &e.User, &action, &kind, &e.ResourceName, &e.Configuration, &e.Description); err != nil {
				yield(auditevents.AuditEvent{}, fmt.Errorf("sqlite: reading a row: %w", err))
				return
			}
			e.Timestamp = time.UnixMicro(us).UTC()
			e.Action, e.ResourceKind = auditevents.Action(action), auditevents.Kind(kind)
			if !yield(e, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(auditevents.AuditEvent{}, fmt.Errorf("sqlite: reading rows: %w", err))
		}
	}
}

// Prune deletes the rows older than before.
func (s *sqliteStore) Prune(ctx context.Context, before time.Time) (int, error) {
	if s.closed.Load() {
		return 0, auditevents.ErrClosed
	}
	res, err := s.w.ExecContext(ctx, "DELETE FROM events WHERE ts < ?", ceilMicro(before))
	if err != nil {
		return 0, fmt.Errorf("sqlite: pruning: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// Settle runs ANALYZE, as a careful user does once a table holds data, so
// that the planner picks the most selective index (a day's range rather
// than one of four accounts, say).
func (s *sqliteStore) Settle(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, "ANALYZE"); err != nil {
		return fmt.Errorf("sqlite: analyze: %w", err)
	}
	return nil
}

// Close closes both pools; the last connection to close checkpoints the
// write-ahead log into the database file.
func (s *sqliteStore) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.mu.Lock()
	for _, st := range s.queries {
		st.Close()
	}
	s.mu.Unlock()
	s.insert.Close()
	return errors.Join(s.r.Close(), s.w.Close())
}

// Files returns the database file and its write-ahead log and shared-memory
// index when they exist.
func (s *sqliteStore) Files() []string { return filesIn(filepath.Dir(s.path)) }
