package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

var _ auditevents.Store = (*Store)(nil)

// Defaults of [Options], used for fields left zero.
const (
	DefaultSchema         = "auditevents"    // Options.Schema
	DefaultTable          = "audit_events"   // Options.Table
	DefaultPageSize       = 1000             // Options.PageSize
	DefaultPruneBatchSize = 10000            // Options.PruneBatchSize
	DefaultConnectTimeout = 10 * time.Second // Options.ConnectTimeout
)

// Upper bounds of Options.PageSize and Options.PruneBatchSize: a page is
// held in memory, and a prune batch is one transaction.
const (
	maxPageSize       = 100_000
	maxPruneBatchSize = 1_000_000
)

// maxTableName leaves room in PostgreSQL's 63-byte identifiers for the
// suffixes of the table's indexes and migrations table.
const maxTableName = 40

// Options configures a [Store]. A nil *Options, or the zero value of any
// field, means the default documented on the field.
type Options struct {
	// Schema is the PostgreSQL schema that holds the table; it is created
	// if missing. Default "auditevents". Letters, digits and underscores,
	// not starting with a digit, at most 63 bytes.
	Schema string
	// Table is the name of the events table. Its indexes and its migrations
	// table ("<Table>_schema_migrations") are named after it. Default
	// "audit_events". Same characters as Schema, at most 40 bytes. Several
	// stores may share a database under different schemas or tables.
	Table string

	// StatementTimeout, when positive, is the longest any one statement may
	// run on the server before the server cancels it; the call then
	// returns an error wrapping [ErrStatementTimeout]. Open sets it as the
	// statement_timeout of every connection it makes. New cannot change the
	// connections of a pool it is given and returns [ErrInvalidOptions]
	// when it is set: set statement_timeout in the pool's
	// ConnConfig.RuntimeParams instead. Default: the server's setting.
	StatementTimeout time.Duration
	// ConnectTimeout bounds each attempt to connect, for connections Open
	// makes, unless the DSN sets connect_timeout. Default 10s.
	ConnectTimeout time.Duration

	// PageSize is how many events Query fetches per round trip, at most
	// 100,000. Memory held by a query is proportional to it; no connection
	// is held between pages. Default 1000.
	PageSize int
	// PruneBatchSize is how many events Prune deletes per statement, each
	// committed on its own, so that pruning millions of events never holds
	// locks or a transaction for long; at most 1,000,000. Default 10000.
	PruneBatchSize int
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// withDefaults returns a copy of o with defaults filled in, or an error
// wrapping ErrInvalidOptions naming the bad field.
func (o *Options) withDefaults() (Options, error) {
	var opt Options
	if o != nil {
		opt = *o
	}
	if opt.Schema == "" {
		opt.Schema = DefaultSchema
	}
	if opt.Table == "" {
		opt.Table = DefaultTable
	}
	if opt.PageSize == 0 {
		opt.PageSize = DefaultPageSize
	}
	if opt.PruneBatchSize == 0 {
		opt.PruneBatchSize = DefaultPruneBatchSize
	}
	if opt.ConnectTimeout == 0 {
		opt.ConnectTimeout = DefaultConnectTimeout
	}
	bad := func(field, value, reason string) (Options, error) {
		return Options{}, fmt.Errorf("%w: %s %q: %s", ErrInvalidOptions, field, value, reason)
	}
	const identChars = "must be letters, digits and underscores, not starting with a digit"
	switch {
	case !identifier.MatchString(opt.Schema):
		return bad("Schema", opt.Schema, identChars)
	case len(opt.Schema) > 63:
		return bad("Schema", opt.Schema, "must be at most 63 bytes long")
	case !identifier.MatchString(opt.Table):
		return bad("Table", opt.Table, identChars)
	case len(opt.Table) > maxTableName:
		return bad("Table", opt.Table, fmt.Sprintf("must be at most %d bytes long", maxTableName))
	case opt.StatementTimeout < 0:
		return bad("StatementTimeout", opt.StatementTimeout.String(), "must not be negative")
	case opt.StatementTimeout > 0 && opt.StatementTimeout < time.Millisecond:
		return bad("StatementTimeout", opt.StatementTimeout.String(), "must be at least 1ms, the server's resolution")
	case opt.StatementTimeout > math.MaxInt32*time.Millisecond:
		return bad("StatementTimeout", opt.StatementTimeout.String(), "must be at most 2147483647ms, the server's limit")
	case opt.ConnectTimeout < 0:
		return bad("ConnectTimeout", opt.ConnectTimeout.String(), "must not be negative")
	case opt.PageSize < 0 || opt.PageSize > maxPageSize:
		return bad("PageSize", fmt.Sprint(opt.PageSize), fmt.Sprintf("must be between 1 and %d", maxPageSize))
	case opt.PruneBatchSize < 0 || opt.PruneBatchSize > maxPruneBatchSize:
		return bad("PruneBatchSize", fmt.Sprint(opt.PruneBatchSize), fmt.Sprintf("must be between 1 and %d", maxPruneBatchSize))
	}
	return opt, nil
}

// Store is an [auditevents.Store] kept in a PostgreSQL table. Make one with
// [Open] or [New]; the zero value is not usable. It is safe for concurrent
// use, and any number of Stores, in any number of processes, may
// use the same table at once. It is also an [auditevents.Ledger]: see "The
// verifiable log" in the package documentation.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool // Open made the pool, so Close closes it
	opt     Options
	sql     statements
	closed  atomic.Bool
	leases  leases // lease.go
}

// Open connects to the PostgreSQL server that dsn names, creates or migrates
// the store's schema, and returns the Store. dsn is a URL such as
// "postgres://user:password@host:5432/dbname?sslmode=disable" or a keyword
// string such as "host=... dbname=...", as pgx and libpq accept; the pool
// settings pgxpool reads from it (pool_max_conns and so on) apply.
//
// It returns an error wrapping [ErrInvalidOptions] for bad options, an error
// naming the problem for a malformed DSN, and a wrapped connection error when
// the server cannot be reached or refuses the login. Close the Store to close
// its connections.
func Open(ctx context.Context, dsn string, opts *Options) (*Store, error) {
	opt, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: malformed DSN: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = opt.ConnectTimeout
	}
	if opt.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(opt.StatementTimeout.Milliseconds())
	}
	// A cancelled context cancels the statement on the server, which stops
	// working on it and keeps the connection usable; should the server not
	// answer the cancel request, the connection is closed a second later.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Second}
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "auditevents"
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: open: %w", err)
	}
	s, err := newStore(ctx, pool, opt, true)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// New returns a Store that uses a pool the host already has, after creating
// or migrating the store's schema. The pool stays the host's: Close does not
// close it, and the host must not close it while the Store is in use.
//
// It returns an error wrapping [ErrInvalidOptions] for bad options (including
// a StatementTimeout, which only Open can apply), and a wrapped error when
// the server cannot be reached or the schema cannot be created.
func New(ctx context.Context, pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: pool is nil", ErrInvalidOptions)
	}
	opt, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if opt.StatementTimeout != 0 {
		return nil, fmt.Errorf("%w: StatementTimeout %s: New cannot change the connections of a pool it is given; set statement_timeout in the pool's ConnConfig.RuntimeParams", ErrInvalidOptions, opt.StatementTimeout)
	}
	return newStore(ctx, pool, opt, false)
}

func newStore(ctx context.Context, pool *pgxpool.Pool, opt Options, own bool) (*Store, error) {
	s := &Store{pool: pool, ownPool: own, opt: opt, sql: newStatements(opt.Schema, opt.Table)}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close marks the store closed, lets the leases it holds go (closing their
// connections) and, when Open made its pool, closes the pool, waiting for
// connections in use to be released. Calling it again returns nil.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.closeLeases()
	if s.ownPool {
		s.pool.Close()
	}
	return nil
}

// Pool returns the connection pool the store uses, for the host's own
// queries and statistics. Do not close it: Close does, when Open made it.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Append stores events, all or nothing, as [auditevents.Store] describes:
// the whole batch goes in with one INSERT statement in one transaction, so a
// failure or cancellation before the commit stores nothing. Should the
// connection be lost while the commit is under way, the batch is either
// wholly stored or not at all: appending it again then either succeeds or
// returns ErrDuplicateID for its first ID.
func (s *Store) Append(ctx context.Context, events ...auditevents.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return auditevents.ErrClosed
	}
	if len(events) == 0 {
		return nil
	}
	prepared, err := auditevents.PrepareBatch(events)
	if err != nil {
		return err
	}
	cols := newColumns(prepared)
	// A conflicting row can vanish (Prune) between the failed INSERT and the
	// look-up that names it; then the INSERT is tried again.
	for range 3 {
		err = s.insert(ctx, cols)
		if !isUniqueViolation(err) {
			return s.wrap(ctx, "append", err)
		}
		if err := s.logConflict(err); err != nil {
			return err
		}
		var id string
		err = s.pool.QueryRow(ctx, s.sql.firstExisting, cols.id).Scan(&id)
		if err == nil {
			return &auditevents.DuplicateIDError{ID: id}
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return s.wrap(ctx, "append: find the duplicate id", err)
		}
	}
	return fmt.Errorf("pgstore: append: %w (an ID of the batch was stored and deleted again while appending)", auditevents.ErrDuplicateID)
}

// insert stores a batch in a transaction of its own. The INSERT alone would
// be atomic too, but the server runs a statement to its end even after the
// client has gone: a statement cancelled by ctx while it waited (for a lock,
// say) would then store the batch after Append returned the context's error.
// The server commits only when asked, and the COMMIT is sent only once the
// INSERT has succeeded. BEGIN travels with the INSERT, so that this costs
// one round trip more than the INSERT alone.
func (s *Store) insert(ctx context.Context, cols *columns) error {
	return s.retry(ctx, func() error { return s.insertOnce(ctx, cols) })
}

func (s *Store) insertOnce(ctx context.Context, cols *columns) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The pool closes a connection released inside a transaction, and the
	// server rolls back the transaction of a closed connection.
	defer conn.Release()
	rollback := func(err error) error {
		if ctx.Err() == nil && conn.Conn().PgConn().TxStatus() != 'I' {
			// Keep the connection: roll back here rather than close it.
			conn.Exec(ctx, "ROLLBACK") //nolint:errcheck // on failure the connection is closed instead
		}
		return err
	}
	// The verifiable log: lock the accounts' heads, which reserves the
	// batch's sequences, then insert the events with their sequences and
	// the tree's new hashes (see ledger.go).
	gs := growths(cols.events)
	for pass := 0; ; pass++ {
		missing, err := s.lockHeads(ctx, conn, gs)
		if err != nil {
			return rollback(err)
		}
		if len(missing) == 0 {
			break
		}
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			return err
		}
		if pass > 0 {
			return fmt.Errorf("the log's head rows of %d accounts are missing after they were made", len(missing))
		}
		if err := s.addHeads(ctx, conn, missing); err != nil {
			return err
		}
	}
	var w tileWrites
	for _, g := range gs {
		for j, at := range g.at {
			cols.seq[at] = g.size + int64(j)
		}
		if err := g.grow(&w); err != nil {
			return rollback(err)
		}
		w.setHead(g)
	}
	batch := &pgx.Batch{}
	batch.Queue(s.sql.insert, cols.args()...)
	var heads, grown, added int
	batch.Queue(s.sql.log.writeLog, w.args()...).QueryRow(func(row pgx.Row) error {
		return row.Scan(&heads, &grown, &added)
	})
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		return rollback(err)
	}
	if err := w.check(heads, grown, added); err != nil {
		return rollback(err)
	}
	tag, err := conn.Exec(ctx, "COMMIT")
	if err == nil && tag.String() != "COMMIT" {
		err = fmt.Errorf("the server answered COMMIT with %s", tag)
	}
	if err != nil {
		// The COMMIT may have been carried out: this must not be retried.
		return &commitError{err}
	}
	return nil
}

// maxAttempts bounds how often a statement is tried on a new connection
// after the connection it ran on was lost.
const maxAttempts = 3

// retry runs fn, and runs it again, up to maxAttempts times in all, while it
// fails because the server ended or lost its connection before fn could
// have had an effect: a server restart or failover ends every connection in
// the pool, and the next statements then go to the restarted server. fn
// must be safe to run again after such a failure: a read, or a transaction
// that failed before its COMMIT was sent. When the pool is the store's own,
// its other connections are closed too, as they died with the first.
func (s *Store) retry(ctx context.Context, fn func() error) error {
	var err error
	for range maxAttempts {
		err = fn()
		if err == nil || ctx.Err() != nil || !connectionLost(err) {
			return err
		}
		if s.ownPool {
			s.pool.Reset()
		}
	}
	return err
}

// connectionLost reports whether err says that the connection a statement
// was sent on had been ended by the server, or was never used: the
// statement had no effect, and a new connection may succeed.
func connectionLost(err error) bool {
	var commitErr *commitError
	if errors.As(err, &commitErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" // admin_shutdown, crash_shutdown
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// columns holds a batch column by column, as the INSERT's arrays, and the
// events themselves, whose leaves the log hashes.
type columns struct {
	id, account, user, action, kind, name, conf, confName, desc []string
	ip, userAgent, requestID, metadata                          []string // "" when absent: NULL
	ts                                                          []time.Time
	seq                                                         []int64 // given in the append's transaction
	events                                                      []auditevents.AuditEvent
}

func newColumns(events []auditevents.AuditEvent) *columns {
	n := len(events)
	c := &columns{
		id: make([]string, n), account: make([]string, n), user: make([]string, n),
		action: make([]string, n), kind: make([]string, n), name: make([]string, n),
		conf: make([]string, n), confName: make([]string, n), desc: make([]string, n),
		ip: make([]string, n), userAgent: make([]string, n), requestID: make([]string, n), metadata: make([]string, n),
		ts: make([]time.Time, n), seq: make([]int64, n), events: events,
	}
	for i := range events {
		e := &events[i]
		c.id[i], c.ts[i], c.account[i], c.user[i] = e.ID, e.Timestamp, e.Account, e.User
		c.action[i], c.kind[i], c.name[i] = string(e.Action), string(e.ResourceKind), e.ResourceName
		c.conf[i], c.desc[i] = e.Configuration, e.Description
		c.confName[i], _ = auditevents.SplitConfiguration(e.Configuration)
		c.ip[i], c.userAgent[i], c.requestID[i] = e.IPAddress, e.UserAgent, e.RequestID
		if len(e.Metadata) > 0 {
			c.metadata[i] = metadataJSON(e.Metadata)
		}
	}
	return c
}

// args returns the INSERT's parameters, in the order of statements.insert.
func (c *columns) args() []any {
	return []any{c.id, c.ts, c.account, c.user, c.action, c.kind, c.name, c.conf, c.confName, c.desc, c.seq,
		c.ip, c.userAgent, c.requestID, c.metadata}
}

// Prune deletes every event older than before, in statements of at most
// Options.PruneBatchSize events each, and returns how many it deleted, as
// [auditevents.Store] describes. Each statement commits on its own: on error
// or cancellation, the events deleted so far stay deleted and are counted.
// Several Prunes may run at once, from any number of processes: each event
// is counted by the one that deleted it.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.closed.Load() {
		return 0, auditevents.ErrClosed
	}
	bound, ok := upperBound(before)
	if !ok {
		return 0, nil // before is at or before year 1: nothing is older
	}
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		if s.closed.Load() {
			return total, auditevents.ErrClosed
		}
		var found, deleted int
		// In a transaction, for the reason Store.insert gives, with the
		// runs of sequences it prunes.
		err := s.retry(ctx, func() error {
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				var accounts []string
				var seqs []int64
				if err := tx.QueryRow(ctx, s.sql.prune, bound, s.opt.PruneBatchSize).Scan(&found, &deleted, &accounts, &seqs); err != nil {
					return err
				}
				return s.recordPruned(ctx, tx, accounts, seqs)
			})
		})
		if err != nil {
			return total, s.wrap(ctx, "prune", err)
		}
		total += deleted
		if found == 0 {
			return total, nil
		}
	}
}

// The range of timestamps stores accept: years 1 to 9999.
var (
	minTime = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// upperBound turns an exclusive bound "timestamp < t" on stored
// (microsecond) timestamps into an equivalent one at microsecond precision.
// It returns ok false when no stored timestamp can be before t, and the end
// of year 9999 when every stored timestamp is, so that the bound is always
// within PostgreSQL's range.
func upperBound(t time.Time) (bound time.Time, ok bool) {
	t = t.UTC()
	switch {
	case !t.After(minTime):
		return time.Time{}, false
	case !t.Before(maxTime):
		return maxTime, true
	}
	return auditevents.CeilMicro(t), true
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// wrap turns an error of an operation into the error the Store returns: nil
// for nil; the context's own error when ctx is done; ErrClosed when the store
// was closed; otherwise the error wrapped with what was being done, and with
// ErrStatementTimeout for a statement the server cancelled for running too
// long.
func (s *Store) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if s.closed.Load() {
		return auditevents.ErrClosed
	}
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "57014": // query_canceled, and not by ctx
		return fmt.Errorf("pgstore: %s: %w (%s); the statement had no effect: %w", op, ErrStatementTimeout, s.statementTimeout(), err)
	case errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "57P"): // operator intervention: shutdown, restart
		return fmt.Errorf("pgstore: %s: the server ended the connection; the statement had no effect: %w", op, err)
	case errors.As(err, &connectErr):
		return fmt.Errorf("pgstore: %s: cannot connect to the server: %w", op, err)
	case pgconn.SafeToRetry(err):
		return fmt.Errorf("pgstore: %s: the statement was not sent to the server: %w", op, err)
	}
	return fmt.Errorf("pgstore: %s: %w", op, err)
}

// statementTimeout describes the statement timeout for error messages.
func (s *Store) statementTimeout() string {
	if s.opt.StatementTimeout > 0 {
		return "Options.StatementTimeout " + s.opt.StatementTimeout.String()
	}
	return "the server's statement_timeout"
}

// metadataJSON returns m as the text of a JSON object for the jsonb column,
// its keys sorted. Unlike [auditevents.AppendMetadataJSON] it escapes only
// what JSON requires (the quote, the backslash and control characters) and
// writes every other character as its UTF-8 bytes: a database in SQL_ASCII
// refuses the \u escape of a character beyond ASCII, such as U+2028, that
// encoding/json's style writes.
func metadataJSON(m map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// writeJSONString writes s as a JSON string, escaping only the quote, the
// backslash and the control characters below U+0020.
func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
