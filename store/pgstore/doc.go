// Package pgstore keeps audit events in PostgreSQL. It is the
// [auditevents.Store] for hosts that run several replicas: they all append to
// and query one table, and every replica sees the same events in the same
// order.
//
// # When to choose it
//
// Choose pgstore when more than one process writes the audit trail, or when
// the trail must live with the rest of the host's data in a database that is
// already replicated, backed up and monitored. A single process is served
// with less cost by store/boltstore (an embedded file, no network round
// trip); tests by store/memstore.
//
// # Connecting
//
// [Open] takes a connection string, as a URL or as libpq keywords, and makes
// its own pool; pool settings such as pool_max_conns may be part of the
// string:
//
//	store, err := pgstore.Open(ctx, "postgres://audit:secret@db:5432/app?sslmode=verify-full", nil)
//
// [New] uses a *pgxpool.Pool the host already has, and leaves it open on
// Close. Either creates the schema on first use (default: schema
// "auditevents", table "audit_events"; see [Options]) and migrates it on
// upgrade. Migrations are versioned in the table
// "<table>_schema_migrations" and applied in one transaction under an
// advisory lock, so replicas that start at once are safe. The user needs the
// right to create the schema the first time, and afterwards to insert,
// select and delete in the tables, and to update the log's
// "<table>_log_heads", "<table>_log_tree" and "<table>_log_pruned" and the
// positions' "<table>_positions".
//
// # How events are kept
//
// One row per event. The ID is a text column in canonical upper case, the
// primary key, with the "C" collation so that PostgreSQL orders IDs byte by
// byte, as [auditevents.Compare] does. A 16-byte uuid column would make the
// table and its indexes smaller (measured with 2 million rows and three
// indexes that hold the ID: heap 115 MB instead of 146 MB, indexes 320 MB
// instead of 464 MB) but the text form keeps rows readable with psql and
// cursors comparable as strings, exactly as [auditevents.Query.Matches]
// compares them. Timestamps are timestamptz, which keeps microseconds, the
// precision [auditevents.Normalize] leaves. The configuration's name, without
// its ":version", has a column of its own.
//
// Four indexes serve the query shapes, each ending in (ts, id) so that rows
// come out of the index in result order: (ts, id), (user, ts, id),
// (configuration name, ts, id) and (account, ts, id). A query reads pages of
// [Options.PageSize] events, each page one statement that continues after the
// last event of the one before, (ts, id) < (last ts, last id), by the index;
// cursors work the same way, never with OFFSET. Memory is one page, and no
// connection is held between pages, so the loop's body may call the store.
//
// The actor fields (schema migration 4) are NULL for an event without them:
// the IP address an inet, so that a network filter (ip_address <<= network)
// is a range of the btree on it; the user agent text; the request ID "C"
// text; the metadata jsonb, which a host can read in SQL (metadata->>'key')
// and index as it needs. Two partial indexes, (request_id, ts, id) and
// (ip_address, ts, id), each holding only the events with the field, serve
// the request-id filter and the ip-address filter for one address in
// result order, and a network as a range whose events are then sorted by
// time. Rows stored before migration 4 keep NULL: nothing is backfilled.
//
// [Store.Append] sends a batch as one INSERT from fifteen arrays (unnest), in
// a transaction of its own: one statement text whatever the batch size,
// prepared once per connection. BEGIN travels with the lock of the
// accounts' log heads (see "The verifiable log"), the INSERT with the tree's
// hashes, and COMMIT follows once they have succeeded, three round trips in
// all, so that a cancelled Append stores nothing even when the server had
// already run the INSERT.
// Measured against COPY of the same rows on a loopback server, a batch of
// one event takes about twice as long (the round trip more), a batch of 100
// about as long, and a batch of 1,000 slightly less. A duplicate ID fails the INSERT as a whole; a second statement
// then finds the first duplicate of the batch to name it in the error.
// Nothing of a failed or cancelled batch is stored.
//
// # Retention
//
// [Store.Prune] deletes in batches of [Options.PruneBatchSize] events, oldest
// first, each batch found by the (ts, id) index and committed on its own, so
// that no lock or transaction is held for long and other writers and readers
// go on meanwhile. Its cost per batch does not grow with the table: deleting
// 1 million events from a table of 2 million ran at about 38,000 events a
// second in batches of 1,000 and of 10,000 alike, so a daily prune of a few
// million events takes minutes in the background.
//
// Dropping whole time partitions is faster still (detaching and dropping a
// partition of 1 million events took 0.4 s on the same machine), and it was
// measured and rejected: PostgreSQL enforces a unique index on a partitioned
// table only if the index holds the partition key, so IDs could no longer be
// kept unique across the trail, which the Store contract requires, and every
// host would have to create partitions ahead of time. Batched deletes leave
// dead rows to autovacuum, which makes their space available to new events.
//
// # The verifiable log
//
// A Store is an [auditevents.Ledger]. Each event row holds its sequence
// within its account (column seq, unique with the account), and three
// tables hold each account's log:
//
//   - "<table>_log_heads": one row per account, its tree size (the next
//     sequence), the tree's right edge (the roots of its complete subtrees,
//     from which the next append extends the tree) and the leaves of its
//     last leaf tile until that tile is full;
//   - "<table>_log_tree": the tree's hashes in tiles, rows of up to 32
//     consecutive hashes of one level, keyed by (account, level, tile). Level
//     0 holds the leaves, one per sequence, and every level from 5 up is
//     kept; a hash of levels 1 to 4 is the root of at most 16 leaves of one
//     tile, computed when read. That is 1 + 1/16 hashes, 34 bytes, per
//     event, in rows of about 1 KB;
//   - "<table>_log_pruned": the runs of sequences whose events Prune
//     deleted, (account, lo, hi).
//
// Append serialises the appends of an account, from any number of
// processes, with its head row: the first statements of the transaction
// make the row if it is missing and lock it (SELECT … FOR UPDATE) until the
// commit, which gives the batch the sequences from the tree size on. The
// batch's events then go in with their sequences, the new hashes
// ([auditevents.TreeAppend]) extend the last tiles or start new ones, and
// the head row gets the new size and right edge, all in that transaction: a
// batch that fails takes no sequence, and no event is committed without its
// leaf. A batch of several accounts locks their heads in ascending order,
// so two batches never wait for each other. A tile is extended only when it
// holds exactly the hashes before the new ones; an append onto a tree that
// was changed outside the store fails with [ErrInconsistent] rather than
// extend it.
//
// [Store.Entries] reads chunks of [Options.PageSize] events by the (account,
// seq) index, each chunk one statement that also reads the pruned runs and
// the tree size, so that it sees an event being pruned either as an event or
// as pruned. A sequence that is neither stored nor in a recorded run is
// skipped, and [auditevents.Verify] reports it as removed. Prune records
// its runs in its transactions; a run that continues the one before extends
// that row, so a prefix pruned day after day stays one row.
//
// Changes made to the tables with SQL are found by [auditevents.Verify]
// against a checkpoint signed before them: an edited field, a deleted,
// inserted, renumbered or swapped event, deleted newest rows, an older copy
// of the tables restored (tested in ledger_test.go). An event inserted with
// a sequence beyond the tree is not part of the log, and is found with
// [auditevents.VerifyOptions].Events. What the tables alone cannot tell: a
// deleted event recorded as pruned in "<table>_log_pruned" is reported by
// Verify as pruned, in [auditevents.Report].Pruned, not as tampering.
//
// Tables made before the log are upgraded when a Store opens them, in the
// migration's transaction: each account's events get sequences in (timestamp,
// ID) order, the order the table keeps (the order in which rows were
// inserted is not kept), and the trees are built, reading 10,000 events at
// a time. The upgrade rewrites every row once, at 18,000 to 41,000 events
// a second on a loaded machine of two cores (BenchmarkLedgerMigrate), and
// other replicas wait for it at Open. Replicas of the release before keep running until restarted,
// but their appends then fail (the sequence column is NOT NULL): upgrade
// them together.
//
// # Positions and leases
//
// A Store is an [auditevents.Positions]: the forward package's forwarder
// keeps each route's position per account in "<table>_positions" (consumer,
// account, position; schema migration 3), one upsert per acknowledged batch
// that also checks the position against the account's tree size, so every
// replica reads what another stored.
//
// A Store is not an [auditevents.Notifier]: events may be committed by
// another replica, which only LISTEN/NOTIFY would make known to this
// process. So a live tail (package httpapi) on it reads the log every
// TailOptions.PollInterval, and a forwarder every Options.PollInterval or
// when the host calls its Notify.
//
// It also implements the forward package's Leaser, so that replicas that
// each run a forwarder with the same routes forward each route from one
// replica at a time. A lease is a session-level advisory lock
// (pg_try_advisory_lock, keyed by a 64-bit hash of the schema, the table and
// the lease's name) taken on a pooled connection, which the Store then takes
// out of the pool and keeps for as long as it holds the lease: a Store
// holds one connection per lease beyond its pool's. The lock lives as long
// as that session, so when the holder's process dies, or its connection is
// lost, the server lets it go and another replica's next try takes it; no
// expiry needs tuning. RenewLease is a round trip on that connection, which
// finds a session the server ended. [Store.Close] lets the Store's leases
// go. Behind a connection pooler in transaction mode (PgBouncer) session
// locks do not hold: connect the Store to the server, or to a pooler in
// session mode.
//
// # Costs
//
// Every call is at least one round trip to the server. Append costs one
// transaction per batch, so batch events (the Recorder does) rather than
// append them one at a time. Each event costs a heap row and five index
// entries: about 670 bytes on disk for events of short values (measured with
// 1 million of them), and the verifiable log adds a sixth index entry, the
// sequence's (about 32 bytes), and about 45 bytes of tree tiles
// (BenchmarkLedgerStorage). The tree costs about 1 µs of CPU per event in
// the appending process in batches of 1,000 (BenchmarkLedgerGrow) and about
// 0.4 ms per such batch on the server; the sequence index costs more
// (BenchmarkLedgerAppend compares both with the release before the log).
// Queries cost one round trip per page. The resource kind, resource name
// and action filters have no index of their own: alone, they are checked on
// the rows the time index yields, so a rare value costs a scan of the
// query's time range; with a user, configuration or account filter they are
// checked on that index's rows only.
//
// # Errors and restarts
//
// A malformed connection string, an unreachable server, a refused login and
// a statement cancelled by the server's statement_timeout
// ([ErrStatementTimeout]) return errors that say which, wrapped with what the
// store was doing; a cancelled context returns the context's error and
// cancels the statement on the server.
//
// When the server ends a connection before a statement on it took effect, as
// a restart or a failover ends them all, the statement is sent again on a
// new connection, up to three times in all: a query goes on from the page it
// was reading, and an Append or a Prune batch, whose transaction cannot have
// committed, runs again. Only a connection lost while a batch commits leaves
// the outcome unknown; the batch is then either wholly stored or not at all,
// and appending it again either succeeds or fails with
// [auditevents.ErrDuplicateID].
package pgstore
