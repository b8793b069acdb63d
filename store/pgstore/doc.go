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
// right to create the schema the first time, and to insert, select and
// delete in the table afterwards.
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
// [Store.Append] sends a batch as one INSERT from ten arrays (unnest), in a
// transaction of its own: one statement text whatever the batch size,
// prepared once per connection. BEGIN travels with the INSERT and COMMIT
// follows once it has succeeded, two round trips in all, so that a cancelled
// Append stores nothing even when the server had already run the INSERT.
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
// # Costs
//
// Every call is at least one round trip to the server. Append costs one
// transaction per batch, so batch events (the Recorder does) rather than
// append them one at a time. Each event costs a heap row and five index
// entries: about 670 bytes on disk for events of short values (measured with
// 1 million of them). Queries cost one round trip per page. The resource
// kind, resource name and action filters have no index of their own: alone,
// they are checked on the rows the time index yields, so a rare value costs
// a scan of the query's time range; with a user, configuration or account
// filter they are checked on that index's rows only.
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
