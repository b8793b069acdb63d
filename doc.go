// Package auditevents gives a Go service an audit trail: it records who did
// what to which resource and when, keeps the records in a [Store], and, with
// the httpapi package, serves them over HTTP exactly as Bindplane's audit
// events API does: GET /v1/audit-events as JSON and
// GET /v1/audit-events/download as CSV.
//
// # Events
//
// An [AuditEvent] has the fields of the API's model.AuditEvent, with the same
// JSON names: a ULID id, a timestamp, the account, the user, the [Action]
// (such as [ActionCreated]), the resource's [Kind] and name, the
// configuration ("name" or "name:version") and a description. Events are
// validated before a store accepts them ([AuditEvent.Validate]) and kept as
// [Normalize] leaves them: the ID in canonical form, the timestamp in UTC to
// the microsecond.
//
// A [Recorder] fills in the ID and the timestamp, so a host records an event
// in one call:
//
//	rec := auditevents.NewRecorder(store, nil)
//	err := rec.Record(ctx, auditevents.AuditEvent{
//		User:          caller,
//		Action:        auditevents.ActionModified,
//		ResourceKind:  auditevents.KindConfiguration,
//		ResourceName:  name,
//		Configuration: name + ":" + version,
//	})
//
// # Actor context and redaction
//
// An event may also say where the action came from: the client's
// [AuditEvent.IPAddress], [AuditEvent.UserAgent], a [AuditEvent.RequestID]
// and the host's own [AuditEvent.Metadata]. They extend the spec's model and
// appear in JSON only when set. [Recorder.RecordWithActor] fills them from
// the [Actor] that [ContextWithActor] (or httpapi's middleware) put in a
// request's context.
//
// A [Redactor] removes or masks fields of an event for one output, such as
// the IP addresses for one audience ([MaskIPAddress], [RedactFields],
// [ChainRedactors]), on that output's own copy: stored events never change.
//
// # Queries
//
// A [Query] selects events by user, configuration (every version, or one),
// time range, resource kind, resource name, action, client IP address (or
// network) and request ID, within an account
// scope that the host sets from the caller's credentials. [ParseQuery] builds
// one from the API's URL parameters, and accepts the dates of every client
// that exists: the spec's YYYYMMDDHHMMSS, RFC 3339, and the
// "2006-01-02 15:04:05.000000-07" that Bindplane's own collector sends (see
// [ParseDate]). Results come newest first; [Query.Limit] and [Query.After]
// page through them with a [Cursor].
//
// # Stores
//
// [Store] is the interface that backends implement: Append a batch (all or
// nothing), Query as a stream in constant memory, Prune for retention, and
// Close. The module provides store/memstore (in memory, for tests),
// store/boltstore (an embedded bbolt file, for a host that runs as one
// process) and store/pgstore (PostgreSQL, in its own module, for hosts that
// run several replicas). store/storetest is the conformance suite that every
// one of them passes, and that a third party's store can run too.
//
// # The verifiable log
//
// store/memstore and store/boltstore are also a [Ledger]: each account's
// events get, at commit, a sequence number (0, 1, 2 … without gaps, in commit
// order), and each account has a Merkle tree over them, hashed as RFC 6962 and the Go
// checksum database do (golang.org/x/mod/sumdb/tlog), whose leaf is the hash
// of a canonical, versioned encoding of every field of the event and its
// sequence ([AppendLeaf]). Stores write the tree's hashes ([TreeAppend]) in
// the same transaction as the events.
//
// [MakeCheckpoint] signs the tree's size and root as a C2SP tlog-checkpoint
// note (golang.org/x/mod/sumdb/note, Ed25519; [GenerateKey] makes the keys);
// [ProveInclusion] and [ProveConsistency] make the proofs that tlog checks;
// and [Verify] reads an account's log as an auditor would, recomputes every
// leaf and the root, and names each sequence that was modified, removed,
// inserted or moved, a rollback below a signed size, or a fork, while it
// reports pruned sequences as pruned. A [Checkpointer] signs checkpoints
// periodically. cmd/auditevents is the auditor's command, and the httpapi
// package serves the checkpoints, proofs and log.
//
// Two optional interfaces build on the sequences: [Positions], where a
// reader of the log (the forward package's forwarder) keeps how far it has
// got, and [Notifier], by which a store says when an account's events are
// committed, so that a reader (the live tail of package httpapi) waits for
// them rather than polling. store/memstore and store/boltstore implement
// both; store/pgstore implements Positions, and its readers poll.
//
// # CSV
//
// [WriteCSV] and [CSVWriter] stream events as RFC 4180 CSV with the columns
// of [CSVColumns] (and, with [CSVOptions].ActorColumns, those of
// [CSVActorColumns]), neutralising cells that a spreadsheet would run as a
// formula.
//
// # Errors
//
// Errors about input are types that name what was wrong and unwrap to a
// sentinel: an [*EventError] wraps [ErrInvalidEvent], a [*QueryError] wraps
// [ErrInvalidQuery], a [*TamperError] wraps [ErrTampered]. The other
// sentinels are [ErrDuplicateID], [ErrUnknownKind], [ErrNotFound],
// [ErrCheckpoint] and [ErrClosed]. Test for them with errors.Is.
package auditevents
