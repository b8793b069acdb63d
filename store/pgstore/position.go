package pgstore

import (
	"context"
	"errors"

	"github.com/auditevents/auditevents"
	"github.com/jackc/pgx/v5"
)

var _ auditevents.Positions = (*Store)(nil)

// positionsMigration is the schema migration that adds the positions of the
// store's consumers (a forwarder's routes): one row per consumer and
// account.
const positionsMigration = `
CREATE TABLE {{schema}}.{{name_positions}} (
	consumer text COLLATE "C" NOT NULL,
	account  text COLLATE "C" NOT NULL,
	position bigint NOT NULL CHECK (position >= 0),
	PRIMARY KEY (consumer, account)
);
`

// positionStatements are the SQL of positions, with the names of the
// store's tables filled in.
type positionStatements struct {
	get string
	// set stores a position when it is within the account's tree, in one
	// statement, and returns the tree size and whether it stored it. The
	// tree only grows, so a position within it stays valid.
	set string
}

func newPositionStatements(schema, table string) positionStatements {
	positions := pgx.Identifier{schema, table + "_positions"}.Sanitize()
	heads := pgx.Identifier{schema, table + "_log_heads"}.Sanitize()
	return positionStatements{
		get: `SELECT position FROM ` + positions + ` WHERE consumer = $1 AND account = $2`,
		set: `WITH h AS (SELECT coalesce((SELECT size FROM ` + heads + ` WHERE account = $2::text), 0) AS size),
up AS (INSERT INTO ` + positions + ` (consumer, account, position) SELECT $1::text, $2::text, $3::int8 FROM h WHERE $3::int8 BETWEEN 0 AND h.size
	ON CONFLICT (consumer, account) DO UPDATE SET position = EXCLUDED.position RETURNING 1)
SELECT h.size, EXISTS (SELECT 1 FROM up) FROM h`,
	}
}

// Position returns the consumer's position for the account, as
// [auditevents.Positions] describes: one statement on the
// "<table>_positions" table; 0 when the consumer stored none.
func (s *Store) Position(ctx context.Context, consumer, account string) (int64, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	if !storable(consumer) || !storable(account) {
		return 0, nil // no stored position has them
	}
	var pos int64
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, s.sql.positions.get, consumer, account).Scan(&pos)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	return pos, s.wrap(ctx, "read a position", err)
}

// SetPosition stores the consumer's position for the account, as
// [auditevents.Positions] describes: one statement that checks it against
// the account's tree size and inserts or updates the row, committed (so
// durable as the server's commits are) when SetPosition returns.
func (s *Store) SetPosition(ctx context.Context, consumer, account string, position int64) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := auditevents.CheckPosition(consumer, max(position, 0), max(position, 0)); err != nil {
		return err // an invalid consumer
	}
	if !storable(account) {
		// No event has such an account: only 0 is within its (empty) tree,
		// and 0 is what Position reads for it.
		return auditevents.CheckPosition(consumer, position, 0)
	}
	var (
		size   int64
		stored bool
	)
	// The statement is idempotent: it is safe to send again on a new
	// connection.
	err := s.retry(ctx, func() error {
		return s.pool.QueryRow(ctx, s.sql.positions.set, consumer, account, position).Scan(&size, &stored)
	})
	if err != nil {
		return s.wrap(ctx, "store a position", err)
	}
	if !stored {
		return auditevents.CheckPosition(consumer, position, size)
	}
	return nil
}
