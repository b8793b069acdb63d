package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/netip"
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
// our stores' configuration index does. The actor fields are NULL when an
// event has none; the IP address is a blob of a family byte (4 or 6) and
// the address's bytes, so that a network is a range of its partial index,
// as in boltstore's, and the request ID has a partial index too.
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
	description   TEXT    NOT NULL,
	ip_address    BLOB,
	user_agent    TEXT,
	request_id    TEXT,
	metadata      TEXT
);
CREATE INDEX IF NOT EXISTS events_ts            ON events (ts, id);
CREATE INDEX IF NOT EXISTS events_user_ts       ON events (user, ts, id);
CREATE INDEX IF NOT EXISTS events_config_ts     ON events (config_name, ts, id);
CREATE INDEX IF NOT EXISTS events_account_ts    ON events (account, ts, id);
CREATE INDEX IF NOT EXISTS events_request_ts    ON events (request_id, ts, id) WHERE request_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_ip_ts         ON events (ip_address, ts, id) WHERE ip_address IS NOT NULL;
`

const sqliteInsert = `INSERT INTO events
	(id, ts, account, user, action, kind, resource_name, configuration, config_name, description,
	 ip_address, user_agent, request_id, metadata)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// ipBlob returns the ip_address column of an event's address: the family
// byte and the address's bytes, or nil (NULL) for none.
func ipBlob(ip string) []byte {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return nil
	}
	return addrBlob(a)
}

// addrBlob returns the ip_address column of the address a: its family
// byte and its bytes.
func addrBlob(a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append([]byte{4}, b[:]...)
	}
	b := a.As16()
	return append([]byte{6}, b[:]...)
}

// ipRange returns the ip_address blobs of the first and the last address
// of p.
func ipRange(p netip.Prefix) (lo, hi []byte) {
	lo = addrBlob(p.Masked().Addr())
	hi = append([]byte(nil), lo...)
	for i := p.Bits(); i < p.Addr().BitLen(); i++ {
		hi[1+i/8] |= 0x80 >> (i % 8)
	}
	return lo, hi
}

// nullable returns s, or nil (NULL) when it is empty.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

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
		var metadata any
		if len(e.Metadata) > 0 {
			metadata = string(auditevents.AppendMetadataJSON(nil, e.Metadata))
		}
		if _, err := ins.ExecContext(ctx, e.ID, e.Timestamp.UnixMicro(), e.Account, e.User, string(e.Action),
			string(e.ResourceKind), e.ResourceName, e.Configuration, name, e.Description,
			ipBlob(e.IPAddress), nullable(e.UserAgent), nullable(e.RequestID), metadata); err != nil {
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
	qRequestID
	qIPAddress
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
	if q.RequestID != "" {
		mask |= qRequestID
		args = append(args, q.RequestID)
	}
	if q.IPAddress.IsValid() {
		mask |= qIPAddress
		lo, hi := ipRange(q.IPAddress)
		args = append(args, lo, hi)
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
	b.WriteString("SELECT id, ts, account, user, action, kind, resource_name, configuration, description, ip_address, user_agent, request_id, metadata FROM events")
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
		{qRequestID, "request_id = ?"},
		{qIPAddress, "ip_address BETWEEN ? AND ?"},
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
				e                 auditevents.AuditEvent
				us                int64
				action, kind      string
				ip                []byte
				ua, rid, metadata sql.NullString
			)
			if err := rows.Scan(&e.ID, &us, &e.Account, &e.User, &action, &kind, &e.ResourceName, &e.Configuration, &e.Description,
				&ip, &ua, &rid, &metadata); err != nil {
				yield(auditevents.AuditEvent{}, fmt.Errorf("sqlite: reading a row: %w", err))
				return
			}
			if len(ip) > 1 {
				a, _ := netip.AddrFromSlice(ip[1:])
				e.IPAddress = a.String()
			}
			e.UserAgent, e.RequestID = ua.String, rid.String
			if metadata.Valid {
				if err := json.Unmarshal([]byte(metadata.String), &e.Metadata); err != nil {
					yield(auditevents.AuditEvent{}, fmt.Errorf("sqlite: reading the metadata of event %s: %w", e.ID, err))
					return
				}
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
