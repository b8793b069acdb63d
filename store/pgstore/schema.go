package pgstore

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// migration is one step of the schema. Steps are applied in order, each
// once, and never change once released: a change to the schema is a new
// step.
type migration struct {
	version     int
	description string
	sql         string // with the names of the store's objects: see Store.expand
	// run, when set, runs after sql in the same transaction, for what SQL
	// alone cannot do.
	run func(s *Store, ctx context.Context, tx pgx.Tx) error
}

// migrations is the store's schema, step by step.
//
// Text columns that are compared or sorted use the "C" collation, so that
// PostgreSQL orders IDs byte by byte as Go does and index comparisons are
// plain memcmp. The configuration name (the configuration without its
// ":version") has a column of its own so that both forms of the
// configuration filter use an index.
var migrations = []migration{
	{1, "events table and the indexes of the query shapes", `
CREATE TABLE {{table}} (
	id                 text COLLATE "C" NOT NULL PRIMARY KEY,
	ts                 timestamptz NOT NULL,
	account            text COLLATE "C" NOT NULL,
	user_name          text COLLATE "C" NOT NULL,
	action             text NOT NULL,
	resource_kind      text NOT NULL,
	resource_name      text NOT NULL,
	configuration      text COLLATE "C" NOT NULL,
	configuration_name text COLLATE "C" NOT NULL,
	description        text NOT NULL
);
CREATE INDEX {{name_ts_idx}} ON {{table}} (ts, id);
CREATE INDEX {{name_user_idx}} ON {{table}} (user_name, ts, id);
CREATE INDEX {{name_configuration_idx}} ON {{table}} (configuration_name, ts, id);
CREATE INDEX {{name_account_idx}} ON {{table}} (account, ts, id);
`, nil},
	{2, "the verifiable log: sequences, tree hashes, pruned runs", logMigration, (*Store).buildLog},
	{3, "the positions of the log's consumers", positionsMigration, nil}, // position.go
	{4, "the actor fields: IP address, user agent, request ID, metadata", actorMigration, nil},
}

// actorMigration adds the actor fields, NULL when an event has none: the
// events stored before it keep NULL, as no backfill is needed, and adding
// a column without a default rewrites no row.
//
// The IP address is an inet, so that a network filter is a range of one
// index (PostgreSQL turns ip_address <<= network into a range of the btree
// on inet) and each address has one form. The request ID is "C" text, for
// exact lookups. The metadata is jsonb, a small object whose keys
// AuditEvent.Validate restricts: a host can read it in SQL
// (metadata->>'region') and give it a GIN index of its own; the store
// reads it back into a map, so jsonb's order of keys does not matter. The
// two filters an investigation uses, by request ID and by address or
// network, have partial indexes that hold only the events with the field:
// they cost nothing for the events without it. Building them reads the
// table once, in the migration's transaction.
const actorMigration = `
ALTER TABLE {{table}}
	ADD COLUMN ip_address inet,
	ADD COLUMN user_agent text,
	ADD COLUMN request_id text COLLATE "C",
	ADD COLUMN metadata   jsonb;
CREATE INDEX {{name_request_id_idx}} ON {{table}} (request_id, ts, id) WHERE request_id IS NOT NULL;
CREATE INDEX {{name_ip_address_idx}} ON {{table}} (ip_address, ts, id) WHERE ip_address IS NOT NULL;
`

// migrate creates the schema and applies the migrations the database lacks,
// in one transaction under an advisory lock, so that replicas that start at
// once apply each migration exactly once and none of them uses the table
// before it is complete.
func (s *Store) migrate(ctx context.Context) error {
	schema := pgx.Identifier{s.opt.Schema}.Sanitize()
	versions := pgx.Identifier{s.opt.Schema, s.opt.Table + "_schema_migrations"}.Sanitize()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.wrap(ctx, "open", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // after Commit it is a no-op
	// Events hold any Unicode text, which only a UTF8 database keeps as it
	// is (SQL_ASCII keeps the bytes, unchecked, which is as good here).
	var encoding string
	if err := tx.QueryRow(ctx, "SELECT current_setting('server_encoding')").Scan(&encoding); err != nil {
		return s.wrap(ctx, "open: read the database's encoding", err)
	}
	if encoding != "UTF8" && encoding != "SQL_ASCII" {
		return fmt.Errorf("pgstore: open: the database's encoding is %s, which cannot hold every event's text; use a database created with ENCODING 'UTF8'", encoding)
	}
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(s.opt.Schema, s.opt.Table)); err != nil {
		return s.wrap(ctx, "open: take the migration lock", err)
	}
	// DDL only when something is missing: a user that may only use the
	// table (no CREATE right on the database or schema) opens an
	// up-to-date store. Even CREATE ... IF NOT EXISTS checks that right.
	var haveVersions bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", versions).Scan(&haveVersions); err != nil {
		return s.wrap(ctx, "open: look for "+versions, err)
	}
	if !haveVersions {
		var haveSchema bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", s.opt.Schema).Scan(&haveSchema); err != nil {
			return s.wrap(ctx, "open: look for schema "+schema, err)
		}
		if !haveSchema {
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
				return s.wrap(ctx, "open: create schema "+schema, err)
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE `+versions+` (
	version     integer PRIMARY KEY,
	description text NOT NULL,
	applied_at  timestamptz NOT NULL DEFAULT now()
)`); err != nil {
			return s.wrap(ctx, "open: create "+versions, err)
		}
	}
	var current int
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+versions).Scan(&current); err != nil {
		return s.wrap(ctx, "open: read the schema version", err)
	}
	latest := migrations[len(migrations)-1].version
	if current > latest {
		return fmt.Errorf("pgstore: open: %s is at schema version %d, newer than the %d this version of pgstore knows; upgrade pgstore", pgx.Identifier{s.opt.Schema, s.opt.Table}.Sanitize(), current, latest)
	}
	for _, m := range migrations {
		if m.version <= current {
			continue
		}
		if _, err := tx.Exec(ctx, s.expand(m.sql)); err != nil {
			return s.wrap(ctx, fmt.Sprintf("open: apply schema migration %d (%s)", m.version, m.description), err)
		}
		if m.run != nil {
			if err := m.run(s, ctx, tx); err != nil {
				return s.wrap(ctx, fmt.Sprintf("open: apply schema migration %d (%s)", m.version, m.description), err)
			}
		}
		if _, err := tx.Exec(ctx, "INSERT INTO "+versions+" (version, description) VALUES ($1, $2)", m.version, m.description); err != nil {
			return s.wrap(ctx, "open: record schema migration", err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return s.wrap(ctx, "open: commit schema migrations", err)
	}
	return nil
}

// expand substitutes the quoted names of the store's objects into a
// migration: {{table}} is the qualified table, {{schema}} its schema, and
// {{name_X}} an object in the same schema named "<Table>_X" (an index; a
// table is {{schema}}.{{name_X}}).
func (s *Store) expand(sql string) string {
	sql = strings.ReplaceAll(sql, "{{table}}", pgx.Identifier{s.opt.Schema, s.opt.Table}.Sanitize())
	sql = strings.ReplaceAll(sql, "{{schema}}", pgx.Identifier{s.opt.Schema}.Sanitize())
	for {
		i := strings.Index(sql, "{{name_")
		if i < 0 {
			return sql
		}
		j := strings.Index(sql[i:], "}}")
		suffix := sql[i+len("{{name_") : i+j]
		sql = sql[:i] + pgx.Identifier{s.opt.Table + "_" + suffix}.Sanitize() + sql[i+j+2:]
	}
}

// lockKey is the advisory lock that serializes migrations of one table.
func lockKey(schema, table string) int64 {
	h := fnv.New64a()
	h.Write([]byte("auditevents/pgstore\x00" + schema + "\x00" + table))
	return int64(h.Sum64())
}

// statements are the store's SQL, with its table's name filled in.
type statements struct {
	table         string // quoted, qualified
	insert        string
	firstExisting string
	prune         string
	log           logStatements
	positions     positionStatements
}

// eventColumns are the columns a query reads, in the order scanEvents
// scans.
const eventColumns = "id, ts, account, user_name, action, resource_kind, resource_name, configuration, description, ip_address, user_agent, request_id, metadata"

// eventColumnsBefore4 reads what eventColumns reads from a table of schema
// version 2 or 3, which has no actor fields, for the migration that builds
// the log.
const eventColumnsBefore4 = "id, ts, account, user_name, action, resource_kind, resource_name, configuration, description, NULL::inet, NULL::text, NULL::text, NULL::jsonb"

func newStatements(schema, table string) statements {
	t := pgx.Identifier{schema, table}.Sanitize()
	return statements{
		table: t,
		// One statement per batch, whatever its size: the batch travels as
		// fifteen arrays, and the statement is prepared once per
		// connection. An actor field travels as "" when the event has none,
		// stored as NULL.
		insert: `INSERT INTO ` + t + ` (id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description, seq,
	ip_address, user_agent, request_id, metadata)
SELECT id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description, seq,
	nullif(ip, '')::inet, nullif(ua, ''), nullif(rid, ''), nullif(md, '')::jsonb
FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::int8[],
	$12::text[], $13::text[], $14::text[], $15::text[])
	AS b(id, ts, account, user_name, action, resource_kind, resource_name, configuration, configuration_name, description, seq, ip, ua, rid, md)`,
		// The first ID of a batch, in batch order, that is already stored.
		firstExisting: `SELECT b.id FROM unnest($1::text[]) WITH ORDINALITY AS b(id, n)
WHERE EXISTS (SELECT 1 FROM ` + t + ` e WHERE e.id = b.id) ORDER BY b.n LIMIT 1`,
		// The oldest events first, found by the (ts, id) index and deleted
		// by physical row address. It returns how many rows it found and
		// how many it deleted, a row another Prune deleted first being
		// found but not deleted, and the accounts and sequences of those
		// it deleted, sorted.
		prune: `WITH doomed AS (SELECT ctid FROM ` + t + ` WHERE ts < $1 ORDER BY ts LIMIT $2),
gone AS (DELETE FROM ` + t + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM doomed)) RETURNING account, seq)
SELECT (SELECT count(*) FROM doomed), (SELECT count(*) FROM gone),
	ARRAY(SELECT account FROM gone ORDER BY account, seq), ARRAY(SELECT seq FROM gone ORDER BY account, seq)`,
		log:       newLogStatements(schema, table),
		positions: newPositionStatements(schema, table),
	}
}
