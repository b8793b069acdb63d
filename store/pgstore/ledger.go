package pgstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/tlog"
)

var _ auditevents.Ledger = (*Store)(nil)

// The tree's hashes are kept in tiles: a row holds up to tileWidth
// consecutive hashes of one level of an account's tree, in the order of
// their index within the level. Level 0 holds the leaves, one per sequence.
// The hashes of levels 1 to 4 are not kept: each is the root of a complete
// subtree of at most 16 leaves, which lie in one leaf tile, and is computed
// from them when read. From level 5 (nodeLevel) up every hash is kept. That
// is 1 + 1/16 hashes, 34 bytes, per event, in rows of about 1 KB.
//
// The last leaf tile, while it is not full, lives in the account's head
// row, which every append updates anyway, so that the leaf tiles of the
// tree table are written once, whole, and single appends do not leave a
// dead copy of a growing tile behind each time.
const (
	tileBits  = 5
	tileWidth = 1 << tileBits
	nodeLevel = tileBits
)

// tileKey names a tile of an account's tree.
type tileKey struct {
	level int16
	tile  int64
}

// logStatements are the SQL of the verifiable log, with the names of the
// store's tables filled in.
type logStatements struct {
	heads, tree, pruned string // quoted, qualified

	addHead   string // makes the account's head row, empty, if missing
	lock      string // locks the account's head row, returns its size, right edge and partial leaf tile
	writeLog  string // the heads' new size, right edge and partial leaf tile, and the tiles inserted and extended
	size      string
	tiles     string // the tiles of an account at the given keys
	entries   string // one chunk of Entries: events, pruned runs and the size, in one snapshot
	lookup    string
	accounts  string
	addPruned string
}

func newLogStatements(schema, table string) logStatements {
	name := func(suffix string) string { return pgx.Identifier{schema, table + suffix}.Sanitize() }
	t := pgx.Identifier{schema, table}.Sanitize()
	l := logStatements{heads: name("_log_heads"), tree: name("_log_tree"), pruned: name("_log_pruned")}
	l.addHead = `INSERT INTO ` + l.heads + ` (account, size) VALUES ($1, 0) ON CONFLICT (account) DO NOTHING`
	// In READ COMMITTED, a lock that waited for another append returns
	// the row as that append committed it.
	l.lock = `SELECT size, frontier, partial FROM ` + l.heads + ` WHERE account = $1 FOR UPDATE`
	// One statement for all of an append's writes to the log's tables. A
	// tile that already holds hashes is extended only when it holds
	// exactly those before the new ones; otherwise the counts returned
	// fall short and the append fails.
	l.writeLog = `WITH u AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::bytea[], $4::bytea[]) AS u(account, size, frontier, partial)),
head AS (UPDATE ` + l.heads + ` h SET size = u.size, frontier = u.frontier, partial = u.partial FROM u WHERE h.account = u.account RETURNING 1),
w AS (SELECT * FROM unnest($5::text[], $6::int2[], $7::int8[], $8::int4[], $9::bytea[]) AS w(account, level, tile, pos, hashes)),
grown AS (UPDATE ` + l.tree + ` t SET hashes = t.hashes || w.hashes FROM w
	WHERE w.pos > 0 AND t.account = w.account AND t.level = w.level AND t.tile = w.tile AND octet_length(t.hashes) = w.pos * 32
	RETURNING 1),
added AS (INSERT INTO ` + l.tree + ` (account, level, tile, hashes) SELECT account, level, tile, hashes FROM w WHERE pos = 0 RETURNING 1)
SELECT (SELECT count(*) FROM head), (SELECT count(*) FROM grown), (SELECT count(*) FROM added)`
	l.size = `SELECT size FROM ` + l.heads + ` WHERE account = $1`
	l.tiles = `SELECT k.level, k.tile, t.hashes FROM unnest($2::int2[], $3::int8[]) AS k(level, tile)
JOIN ` + l.tree + ` t ON t.account = $1 AND t.level = k.level AND t.tile = k.tile
UNION ALL
SELECT 0, size >> ` + strconv.Itoa(tileBits) + `, partial FROM ` + l.heads + ` WHERE account = $1 AND octet_length(partial) > 0`
	// Kind 0 rows are events, 1 pruned runs (seq is lo, n is hi) and 2 the
	// tree size; the limits apply to events and runs apiece.
	l.entries = `SELECT 0, e.seq, 0::int8, e.id, e.ts, e.account, e.user_name, e.action, e.resource_kind, e.resource_name, e.configuration, e.description,
	e.ip_address, e.user_agent, e.request_id, e.metadata
FROM (SELECT seq, ` + eventColumns + ` FROM ` + t + ` WHERE account = $1 AND seq >= $2 ORDER BY seq LIMIT $3) e
UNION ALL
SELECT 1, p.lo, p.hi, '', 'epoch', '', '', '', '', '', '', '', NULL, NULL, NULL, NULL
FROM (SELECT lo, hi FROM ` + l.pruned + ` WHERE account = $1 AND hi > $2 ORDER BY lo LIMIT $3) p
UNION ALL
SELECT 2, coalesce((SELECT size FROM ` + l.heads + ` WHERE account = $1), 0), 0, '', 'epoch', '', '', '', '', '', '', '', NULL, NULL, NULL, NULL`
	l.lookup = `SELECT seq, ` + eventColumns + ` FROM ` + t + ` WHERE id = $1`
	l.accounts = `SELECT account FROM ` + l.heads + ` WHERE size > 0 AND ($2 OR account > $1) ORDER BY account LIMIT $3`
	// A run that continues the run before it extends that one, so that a
	// prefix pruned batch after batch stays one row.
	l.addPruned = `WITH r AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]) AS r(account, lo, hi)),
ext AS (UPDATE ` + l.pruned + ` p SET hi = r.hi FROM r WHERE p.account = r.account AND p.hi = r.lo RETURNING r.account, r.lo)
INSERT INTO ` + l.pruned + ` (account, lo, hi)
SELECT account, lo, hi FROM r WHERE NOT EXISTS (SELECT 1 FROM ext WHERE ext.account = r.account AND ext.lo = r.lo)`
	return l
}

// logMigration is the schema migration that adds the verifiable log: the
// sequence column and its index, the heads, tree and pruned tables, and, in
// buildLog, the sequences and trees of the events stored before it.
//
// Existing events get their sequences in (timestamp, ID) order within each
// account: the order of their stored keys, which the table keeps, unlike
// the order in which they were inserted.
const logMigration = `
ALTER TABLE {{table}} ADD COLUMN seq bigint;
UPDATE {{table}} e SET seq = o.seq
FROM (SELECT id, row_number() OVER (PARTITION BY account ORDER BY ts, id) - 1 AS seq FROM {{table}}) o
WHERE e.id = o.id;
ALTER TABLE {{table}} ALTER COLUMN seq SET NOT NULL;
CREATE UNIQUE INDEX {{name_seq_idx}} ON {{table}} (account, seq);
CREATE TABLE {{schema}}.{{name_log_heads}} (
	account  text COLLATE "C" NOT NULL PRIMARY KEY,
	size     bigint NOT NULL CHECK (size >= 0),
	frontier bytea NOT NULL DEFAULT '',
	partial  bytea NOT NULL DEFAULT ''
);
CREATE TABLE {{schema}}.{{name_log_tree}} (
	account text COLLATE "C" NOT NULL,
	level   smallint NOT NULL,
	tile    bigint NOT NULL,
	hashes  bytea NOT NULL,
	PRIMARY KEY (account, level, tile)
);
CREATE TABLE {{schema}}.{{name_log_pruned}} (
	account text COLLATE "C" NOT NULL,
	lo      bigint NOT NULL,
	hi      bigint NOT NULL CHECK (lo < hi),
	PRIMARY KEY (account, lo)
);
`

// buildChunk is how many events buildLog reads at a time.
const buildChunk = 10_000

// buildLog builds the tree of every account from its events, in sequence
// order, and sets the heads: the second half of logMigration, in its
// transaction. Memory is one chunk of events.
func (s *Store) buildLog(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, "SELECT account, count(*) FROM "+s.sql.table+" GROUP BY account ORDER BY account")
	if err != nil {
		return err
	}
	var accounts []string
	var counts []int64
	for rows.Next() {
		var a string
		var n int64
		if err := rows.Scan(&a, &n); err != nil {
			rows.Close()
			return err
		}
		accounts, counts = append(accounts, a), append(counts, n)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// The table is of schema version 2 here: the actor fields come later.
	read := "SELECT " + eventColumnsBefore4 + " FROM " + s.sql.table + " WHERE account = $1 AND seq >= $2 ORDER BY seq LIMIT $3"
	for i, account := range accounts {
		if _, err := tx.Exec(ctx, s.sql.log.addHead, account); err != nil {
			return err
		}
		var frontier, partial []byte
		for n := int64(0); n < counts[i]; {
			rows, err := tx.Query(ctx, read, account, n, buildChunk)
			if err != nil {
				return err
			}
			events, err := scanEvents(rows, nil)
			if err != nil {
				return err
			}
			if len(events) == 0 {
				return fmt.Errorf("account %s: %d events found, %d counted", quoteAccount(account), n, counts[i])
			}
			g := &growth{account: account, size: n, frontier: frontier, partial: partial, events: events}
			var w tileWrites
			if err := g.grow(&w); err != nil {
				return err
			}
			w.setHead(g)
			if err := s.writeLog(ctx, tx, &w); err != nil {
				return err
			}
			n += int64(len(events))
			frontier, partial = g.frontier, g.partial
		}
	}
	return nil
}

// scanEvents appends the events of rows, which have eventColumns, to buf.
func scanEvents(rows pgx.Rows, buf []auditevents.AuditEvent) ([]auditevents.AuditEvent, error) {
	defer rows.Close()
	for rows.Next() {
		var e auditevents.AuditEvent
		var a actorColumns
		if err := rows.Scan(a.dests(&e)...); err != nil {
			return buf, fmt.Errorf("read an event: %w", err)
		}
		if err := a.fill(&e); err != nil {
			return buf, err
		}
		buf = append(buf, e)
	}
	return buf, rows.Err()
}

// actorColumns receives the actor columns of a row, each nil when NULL.
type actorColumns struct {
	ip                   *netip.Prefix
	userAgent, requestID *string
	metadata             []byte // jsonb's text
}

// dests returns the scan destinations of a row that has lead's columns and
// then eventColumns: lead, then e's fields and a's. [actorColumns.fill]
// completes e after the scan.
func (a *actorColumns) dests(e *auditevents.AuditEvent, lead ...any) []any {
	return append(append(make([]any, 0, len(lead)+13), lead...),
		&e.ID, &e.Timestamp, &e.Account, &e.User, (*string)(&e.Action),
		(*string)(&e.ResourceKind), &e.ResourceName, &e.Configuration, &e.Description,
		&a.ip, &a.userAgent, &a.requestID, &a.metadata)
}

// fill completes e after a scan into a.dests(e): its timestamp in UTC and
// its actor fields from a.
func (a *actorColumns) fill(e *auditevents.AuditEvent) error {
	e.Timestamp = e.Timestamp.UTC()
	if a.ip != nil {
		e.IPAddress = a.ip.Addr().String()
	}
	if a.userAgent != nil {
		e.UserAgent = *a.userAgent
	}
	if a.requestID != nil {
		e.RequestID = *a.requestID
	}
	if a.metadata != nil {
		if err := json.Unmarshal(a.metadata, &e.Metadata); err != nil {
			return fmt.Errorf("read the metadata of event %s: %w", e.ID, err)
		}
		if len(e.Metadata) == 0 {
			e.Metadata = nil
		}
	}
	return nil
}

// growth is one account's part of a batch being appended.
type growth struct {
	account  string
	size     int64  // the tree size before the batch
	frontier []byte // the tree's right edge: see frontierReader; after grow, the new one
	partial  []byte // the leaves of the last leaf tile while it is not full; after grow, the new ones
	events   []auditevents.AuditEvent
	at       []int // the events' positions in the batch
}

// growths splits a batch by account, in ascending account order: the
// order in which Append locks the accounts' heads, so that two batches
// never wait for each other's locks.
func growths(events []auditevents.AuditEvent) []*growth {
	if one := len(events) > 0 && !slices.ContainsFunc(events, func(e auditevents.AuditEvent) bool { return e.Account != events[0].Account }); one {
		// The usual batch: one account, the events as they are.
		g := &growth{account: events[0].Account, events: events, at: make([]int, len(events))}
		for i := range g.at {
			g.at[i] = i
		}
		return []*growth{g}
	}
	byAccount := make(map[string]*growth, 1)
	var gs []*growth
	for i := range events {
		g := byAccount[events[i].Account]
		if g == nil {
			g = &growth{account: events[i].Account}
			byAccount[g.account] = g
			gs = append(gs, g)
		}
		g.events = append(g.events, events[i])
		g.at = append(g.at, i)
	}
	slices.SortFunc(gs, func(a, b *growth) int { return strings.Compare(a.account, b.account) })
	return gs
}

// lockHeads begins the append's transaction on conn and locks the head row
// of each account of the batch, in the order of gs, which gives the batch
// the sequences from the tree size on until the commit, and reads the
// tree's right edge: one round trip. The accounts without a head row yet
// are returned, and the transaction is then still open. writeLog writes the
// row once more, at the end of the append: one new row version per append.
func (s *Store) lockHeads(ctx context.Context, conn *pgxpool.Conn, gs []*growth) (missing []string, err error) {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, g := range gs {
		b.Queue(s.sql.log.lock, g.account)
	}
	br := conn.SendBatch(ctx, b)
	defer func() {
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := br.Exec(); err != nil {
		return nil, err
	}
	for _, g := range gs {
		err := br.QueryRow().Scan(&g.size, &g.frontier, &g.partial)
		if errors.Is(err, pgx.ErrNoRows) {
			missing = append(missing, g.account)
		} else if err != nil {
			return nil, err
		}
	}
	return missing, nil
}

// addHeads makes the head rows of new accounts, each committed on its own
// (empty rows, which Accounts does not list), so that the append that
// needs them takes them in its order. Made inside the append's transaction,
// a row would stay locked by it out of that order.
func (s *Store) addHeads(ctx context.Context, conn *pgxpool.Conn, accounts []string) error {
	b := &pgx.Batch{}
	for _, a := range accounts {
		b.Queue(s.sql.log.addHead, a)
	}
	return conn.SendBatch(ctx, b).Close()
}

// scanTiles reads rows of (level, tile, hashes).
func scanTiles(rows pgx.Rows) (map[tileKey][]byte, error) {
	defer rows.Close()
	tiles := make(map[tileKey][]byte)
	for rows.Next() {
		var k tileKey
		var h []byte
		if err := rows.Scan(&k.level, &k.tile, &h); err != nil {
			return nil, err
		}
		tiles[k] = h
	}
	return tiles, rows.Err()
}

// frontierReader serves TreeAppend the hashes it reads: the right edge of
// the tree of size n, the roots of its complete subtrees, one per bit set in
// n, highest level first, as the head row keeps them, so that an append
// neither reads nor recomputes them from the tiles.
type frontierReader struct {
	account  string
	n        int64
	frontier []byte
}

// ReadHashes returns the hashes of the right edge at indexes.
func (r frontierReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	if len(r.frontier) != bits.OnesCount64(uint64(r.n))*tlog.HashSize {
		return nil, fmt.Errorf("%w: account %s: the right edge of tree size %d has %d bytes", ErrInconsistent, quoteAccount(r.account), r.n, len(r.frontier))
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		level, k := tlog.SplitStoredHashIndex(x)
		if r.n>>level&1 == 0 || k != r.n>>level-1 {
			return nil, fmt.Errorf("account %s: stored hash %d is not on the right edge of tree size %d", quoteAccount(r.account), x, r.n)
		}
		// Its place: the bits of n above level come first.
		j := bits.OnesCount64(uint64(r.n) >> (level + 1))
		out[i] = tlog.Hash(r.frontier[j*tlog.HashSize:])
	}
	return out, nil
}

// grow gives the account's events of the batch their sequences and appends
// their leaves and the tree's new stored hashes to w, and sets g.frontier to
// the right edge of the grown tree.
func (g *growth) grow(w *tileWrites) error {
	leaves := make([]tlog.Hash, len(g.events))
	for i := range g.events {
		leaves[i] = auditevents.LeafHash(g.size+int64(i), &g.events[i])
	}
	hashes, err := auditevents.TreeAppend(g.size, leaves, frontierReader{g.account, g.size, g.frontier})
	if err != nil {
		return err
	}
	// The new right edge: per level l set in the new size N, the hash of
	// index N>>l - 1, new or on the old edge.
	n := g.size + int64(len(leaves))
	var edge [64]tlog.Hash
	for l := range 63 {
		if g.size>>l&1 == 1 && g.size>>l == n>>l { // a root the batch does not touch
			edge[l] = tlog.Hash(g.frontier[bits.OnesCount64(uint64(g.size)>>(l+1))*tlog.HashSize:])
		}
	}
	keep := func(level int, k int64, h tlog.Hash) {
		if n>>level&1 == 1 && k == n>>level-1 {
			edge[level] = h
		}
	}
	// TreeAppend returns, for each record m, its leaf and then the hashes
	// that m completes: one per trailing 1 bit of m, at levels 1, 2 ….
	if len(g.partial) != int(g.size%tileWidth)*tlog.HashSize {
		return fmt.Errorf("%w: account %s: the last leaf tile of tree size %d has %d bytes", ErrInconsistent, quoteAccount(g.account), g.size, len(g.partial))
	}
	tile := g.partial
	i := 0
	for k := range leaves {
		m := g.size + int64(k)
		tile = append(tile, hashes[i][:]...)
		if m%tileWidth == tileWidth-1 { // full: a row of its own
			w.addTile(g.account, 0, m>>tileBits, tile)
			tile = nil
		}
		keep(0, m, hashes[i])
		i++
		for l := 1; m>>(l-1)&1 == 1; l++ {
			if l >= nodeLevel {
				w.add(g.account, int16(l), m>>l, hashes[i])
			}
			keep(l, m>>l, hashes[i])
			i++
		}
	}
	if i != len(hashes) {
		return fmt.Errorf("the tree of account %s grew by %d hashes, %d expected", quoteAccount(g.account), len(hashes), i)
	}
	w.flush()
	g.partial = tile
	if tile == nil {
		g.partial = []byte{} // empty, not NULL
	}
	g.frontier = make([]byte, 0, bits.OnesCount64(uint64(n))*tlog.HashSize)
	for l := 62; l >= 0; l-- {
		if n>>l&1 == 1 {
			g.frontier = append(g.frontier, edge[l][:]...)
		}
	}
	return nil
}

// tileWrites collects the writes of an append to the log's tables as the
// arrays of writeLog: one entry per head row, and one per tile, holding its
// new hashes from position pos.
type tileWrites struct {
	headAccount               []string
	headSize                  []int64
	headFrontier, headPartial [][]byte

	account []string
	level   []int16
	tile    []int64
	pos     []int32
	hashes  [][]byte
	open    [64]int // per level, 1 + the entry being filled, or 0
}

// setHead adds the head row of g after its growth.
func (w *tileWrites) setHead(g *growth) {
	w.headAccount = append(w.headAccount, g.account)
	w.headSize = append(w.headSize, g.size+int64(len(g.events)))
	w.headFrontier = append(w.headFrontier, g.frontier)
	w.headPartial = append(w.headPartial, g.partial)
}

// args returns writeLog's parameters.
func (w *tileWrites) args() []any {
	return []any{w.headAccount, w.headSize, w.headFrontier, w.headPartial, w.account, w.level, w.tile, w.pos, w.hashes}
}

// add appends the hash of index k of a level.
func (w *tileWrites) add(account string, level int16, k int64, h tlog.Hash) {
	t := k >> tileBits
	if e := w.open[level] - 1; e >= 0 && w.tile[e] == t {
		w.hashes[e] = append(w.hashes[e], h[:]...)
		return
	}
	w.account = append(w.account, account)
	w.level = append(w.level, level)
	w.tile = append(w.tile, t)
	w.pos = append(w.pos, int32(k&(tileWidth-1)))
	w.hashes = append(w.hashes, append([]byte(nil), h[:]...))
	w.open[level] = len(w.tile)
}

// addTile appends a full tile, which no row holds yet.
func (w *tileWrites) addTile(account string, level int16, tile int64, hashes []byte) {
	w.account = append(w.account, account)
	w.level = append(w.level, level)
	w.tile = append(w.tile, tile)
	w.pos = append(w.pos, 0)
	w.hashes = append(w.hashes, hashes)
}

// flush ends the account's entries, so that the next account's start anew.
func (w *tileWrites) flush() { w.open = [64]int{} }

// writeLog writes w in tx, and fails unless every head row was there and
// every tile that w extends held exactly the hashes before the new ones.
func (s *Store) writeLog(ctx context.Context, tx pgx.Tx, w *tileWrites) error {
	var heads, grown, added int
	if err := tx.QueryRow(ctx, s.sql.log.writeLog, w.args()...).Scan(&heads, &grown, &added); err != nil {
		return err
	}
	return w.check(heads, grown, added)
}

// check compares the rows writeLog changed with those w meant to.
func (w *tileWrites) check(heads, grown, added int) error {
	if heads != len(w.headAccount) {
		return fmt.Errorf("%w: %d of the %d head rows of the batch's accounts were found; the table was changed outside the store", ErrInconsistent, heads, len(w.headAccount))
	}
	extend := 0
	for _, p := range w.pos {
		if p > 0 {
			extend++
		}
	}
	if grown != extend || added != len(w.pos)-extend {
		return fmt.Errorf("%w: extending the tree: %d of %d tiles were at the expected size; the tree's table was changed outside the store", ErrInconsistent, grown, extend)
	}
	return nil
}

// logConflict returns the error of an append whose unique violation
// (err) was not an event's ID but a sequence or a tree tile that the log
// was about to give: rows that the store did not write, since the head row
// lock serialises the appends of an account. It returns nil for any other
// violation.
func (s *Store) logConflict(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return nil
	}
	if pgErr.ConstraintName == s.opt.Table+"_seq_idx" || pgErr.TableName == s.opt.Table+"_log_tree" {
		return fmt.Errorf("pgstore: append: %w: %s holds a row for a sequence or tree hash that the log had not given yet (%s); the table was written outside the store", ErrInconsistent, pgErr.TableName, pgErr.Detail)
	}
	return nil
}

// tileReader reads stored hashes from tiles already read: a tlog.HashReader.
type tileReader struct {
	account string
	tiles   map[tileKey][]byte
}

// ReadHashes returns the stored hashes at indexes, computing those of
// levels 1 to 4 from their leaves.
func (r *tileReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		h, err := r.hash(x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// tileOf returns the tile that holds, or whose leaves make, the stored hash
// at index x.
func tileOf(x int64) tileKey {
	level, k := tlog.SplitStoredHashIndex(x)
	if level > 0 && level < nodeLevel {
		return tileKey{0, (k << level) >> tileBits}
	}
	return tileKey{int16(level), k >> tileBits}
}

func (r *tileReader) hash(x int64) (tlog.Hash, error) {
	level, k := tlog.SplitStoredHashIndex(x)
	if level == 0 || level >= nodeLevel {
		return r.at(level, k)
	}
	// The root of the 2^level leaves from k<<level, which share a tile.
	var buf [1 << (nodeLevel - 1)]tlog.Hash
	hs := buf[:1<<level]
	for i := range hs {
		var err error
		if hs[i], err = r.at(0, k<<level+int64(i)); err != nil {
			return tlog.Hash{}, err
		}
	}
	for n := len(hs); n > 1; n /= 2 {
		for i := 0; i < n/2; i++ {
			hs[i] = tlog.NodeHash(hs[2*i], hs[2*i+1])
		}
	}
	return hs[0], nil
}

// at returns the hash of index k of a level from its tile.
func (r *tileReader) at(level int, k int64) (tlog.Hash, error) {
	t, ok := r.tiles[tileKey{int16(level), k >> tileBits}]
	off := int(k&(tileWidth-1)) * tlog.HashSize
	if !ok || off+tlog.HashSize > len(t) {
		return tlog.Hash{}, fmt.Errorf("%w: account %s lacks the hash of level %d index %d", ErrInconsistent, quoteAccount(r.account), level, k)
	}
	return tlog.Hash(t[off : off+tlog.HashSize]), nil
}

// quoteAccount quotes an account for messages, cut to 64 bytes.
func quoteAccount(a string) string {
	if len(a) > 64 {
		a = a[:64] + "…"
	}
	return strconv.Quote(a)
}

// TreeSize returns the size of the account's tree, as
// [auditevents.Ledger] describes: one statement on the account's head row.
func (s *Store) TreeSize(ctx context.Context, account string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if !storable(account) {
		return 0, nil // no stored event has it
	}
	var size int64
	err := s.retry(ctx, func() error { return s.pool.QueryRow(ctx, s.sql.log.size, account).Scan(&size) })
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return size, s.wrap(ctx, "tree size", err)
}

// check returns the context's error or ErrClosed, if any.
func (s *Store) check(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return auditevents.ErrClosed
	}
	return nil
}

// ReadHashes returns the account's stored tree hashes at the given indexes,
// as [auditevents.Ledger] describes. It reads the tiles that hold them in
// one statement.
func (s *Store) ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error) {
	size, err := s.TreeSize(ctx, account)
	if err != nil {
		return nil, err
	}
	if err := auditevents.CheckIndexes(size, indexes); err != nil {
		return nil, err
	}
	if len(indexes) == 0 {
		return []tlog.Hash{}, nil
	}
	seen := make(map[tileKey]bool)
	var levels []int16
	var tiles []int64
	for _, x := range indexes {
		if k := tileOf(x); !seen[k] {
			seen[k] = true
			levels, tiles = append(levels, k.level), append(tiles, k.tile)
		}
	}
	r := tileReader{account: account}
	err = s.retry(ctx, func() error {
		rows, err := s.pool.Query(ctx, s.sql.log.tiles, account, levels, tiles)
		if err != nil {
			return err
		}
		r.tiles, err = scanTiles(rows)
		return err
	})
	if err != nil {
		return nil, s.wrap(ctx, "read the tree's hashes", err)
	}
	hs, err := r.ReadHashes(indexes)
	if err != nil {
		return nil, fmt.Errorf("pgstore: read the tree's hashes: %w", err)
	}
	return hs, nil
}

// Entries streams the account's log in sequence order from sequence from, as
// [auditevents.Ledger] describes. It reads chunks of Options.PageSize events
// by the (account, seq) index, each chunk one statement that also reads the
// pruned runs and the tree size, so that an event pruned meanwhile is seen
// either as an event or within a pruned run. No connection is held between
// chunks. Sequences that are neither stored nor within a run that Prune
// recorded are skipped, for the verifier to report as removed.
func (s *Store) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		var (
			next    = from
			limit   = s.opt.PageSize
			items   []auditevents.Entry
			pending auditevents.Entry // a pruned run not yet yielded, when Pruned > 0
		)
		for first := true; ; first = false {
			if err := s.check(ctx); err != nil {
				yield(auditevents.Entry{}, err)
				return
			}
			var size int64
			var err error
			items, size, err = s.entriesChunk(ctx, account, next, limit, items[:0])
			if err != nil {
				yield(auditevents.Entry{}, err)
				return
			}
			if first {
				if err := auditevents.CheckFrom(size, from); err != nil {
					yield(auditevents.Entry{}, err)
					return
				}
			}
			if next >= size {
				break
			}
			end := size
			var events, runs, lastEvent, lastRun int64 = 0, 0, -1, -1
			for _, e := range items {
				if e.Pruned == 0 {
					events++
					lastEvent = e.Seq
				} else {
					runs++
					lastRun = e.Seq + e.Pruned
				}
			}
			if events == int64(limit) {
				end = min(end, lastEvent+1)
			}
			if runs == int64(limit) {
				end = min(end, lastRun)
			}
			for _, e := range items {
				if e.Pruned > 0 { // clip the run to [next, end)
					lo, hi := max(e.Seq, next), min(e.Seq+e.Pruned, end)
					if lo >= hi {
						continue
					}
					e.Seq, e.Pruned = lo, hi-lo
					if pending.Pruned > 0 && pending.Seq+pending.Pruned == e.Seq {
						pending.Pruned += e.Pruned
						continue
					}
				} else if e.Seq >= end {
					continue
				}
				if pending.Pruned > 0 {
					if !yield(pending, nil) {
						return
					}
					pending = auditevents.Entry{}
				}
				if e.Pruned > 0 {
					pending = e
				} else if !yield(e, nil) {
					return
				}
			}
			next = end
		}
		if pending.Pruned > 0 {
			yield(pending, nil)
		}
	}
}

// entriesChunk reads one chunk of Entries from next: up to limit events and
// limit pruned runs, sorted by sequence, and the tree size.
func (s *Store) entriesChunk(ctx context.Context, account string, next int64, limit int, buf []auditevents.Entry) ([]auditevents.Entry, int64, error) {
	if !storable(account) {
		return buf, 0, nil
	}
	var size int64
	start := len(buf)
	err := s.retry(ctx, func() error {
		buf = buf[:start]
		rows, err := s.pool.Query(ctx, s.sql.log.entries, account, next, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kind int
			var e auditevents.Entry
			var n int64
			var a actorColumns
			ev := &e.Event
			if err := rows.Scan(a.dests(ev, &kind, &e.Seq, &n)...); err != nil {
				return fmt.Errorf("read an entry: %w", err)
			}
			switch kind {
			case 0:
				if err := a.fill(ev); err != nil {
					return err
				}
				buf = append(buf, e)
			case 1:
				buf = append(buf, auditevents.Entry{Seq: e.Seq, Pruned: n - e.Seq})
			default:
				size = e.Seq
			}
		}
		return rows.Err()
	})
	if err != nil {
		return buf, 0, s.wrap(ctx, "read the log", err)
	}
	slices.SortStableFunc(buf, func(a, b auditevents.Entry) int {
		if c := cmp.Compare(a.Seq, b.Seq); c != 0 {
			return c
		}
		return cmp.Compare(b.Pruned, a.Pruned) // a run before an event at its start
	})
	return buf, size, nil
}

// Lookup returns the entry of the event with the given ID, as
// [auditevents.Ledger] describes: one statement on the primary key.
func (s *Store) Lookup(ctx context.Context, id string) (auditevents.Entry, error) {
	if err := s.check(ctx); err != nil {
		return auditevents.Entry{}, err
	}
	id = strings.ToUpper(id)
	if !storable(id) {
		return auditevents.Entry{}, auditevents.ErrNotFound
	}
	var e auditevents.Entry
	var a actorColumns
	ev := &e.Event
	err := s.retry(ctx, func() error {
		a = actorColumns{}
		return s.pool.QueryRow(ctx, s.sql.log.lookup, id).Scan(a.dests(ev, &e.Seq)...)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return auditevents.Entry{}, fmt.Errorf("pgstore: lookup %s: %w", id, auditevents.ErrNotFound)
	}
	if err != nil {
		return auditevents.Entry{}, s.wrap(ctx, "lookup", err)
	}
	if err := a.fill(ev); err != nil {
		return auditevents.Entry{}, s.wrap(ctx, "lookup", err)
	}
	return e, nil
}

// Accounts streams the accounts that have a non-empty tree, in ascending
// byte order, as [auditevents.Ledger] describes, reading pages of
// Options.PageSize accounts by the heads' primary key.
func (s *Store) Accounts(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		after, first := "", true
		page := make([]string, 0, s.opt.PageSize)
		for {
			if err := s.check(ctx); err != nil {
				yield("", err)
				return
			}
			start := len(page[:0])
			err := s.retry(ctx, func() error {
				page = page[:start]
				rows, err := s.pool.Query(ctx, s.sql.log.accounts, after, first, s.opt.PageSize)
				if err != nil {
					return err
				}
				defer rows.Close()
				for rows.Next() {
					var a string
					if err := rows.Scan(&a); err != nil {
						return err
					}
					page = append(page, a)
				}
				return rows.Err()
			})
			if err != nil {
				yield("", s.wrap(ctx, "list accounts", err))
				return
			}
			for _, a := range page {
				if !yield(a, nil) {
					return
				}
			}
			if len(page) < s.opt.PageSize {
				return
			}
			after, first = page[len(page)-1], false
		}
	}
}

// recordPruned records, in Prune's transaction, the sequences whose events
// it deleted, as runs: Entries reports them as pruned, and any other
// sequence missing from the table as removed. accounts and seqs are sorted
// by account, then sequence.
func (s *Store) recordPruned(ctx context.Context, tx pgx.Tx, accounts []string, seqs []int64) error {
	var ra []string
	var lo, hi []int64
	for i := range seqs {
		if n := len(ra) - 1; n >= 0 && ra[n] == accounts[i] && hi[n] == seqs[i] {
			hi[n]++
			continue
		}
		ra, lo, hi = append(ra, accounts[i]), append(lo, seqs[i]), append(hi, seqs[i]+1)
	}
	if len(ra) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, s.sql.log.addPruned, ra, lo, hi)
	return err
}
