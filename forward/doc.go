// Package forward delivers audit events to the systems where security teams
// read them. A [Forwarder] runs beside a store and reads each account's
// events in the order they were committed ([auditevents.Ledger]), from a
// position it keeps in the same store ([auditevents.Positions]), and hands
// them in batches to each of its routes' [Sink]s, at least once: a position
// moves only once its sink has acknowledged the batch. The [Webhook] sink
// POSTs batches to an HTTP endpoint, signed so the receiver can authenticate
// them and reject replays. The OTLP logs sink, which needs the OpenTelemetry
// SDK, lives in the nested module forward/otlp; a host writes its own sink
// (a Kafka topic, a file) by implementing Sink.
//
// # Redaction
//
// A route may keep fields from its sink: [Route].Redact, an
// [auditevents.Redactor], removes or masks fields of each event (the IP
// address for a receiver outside the organisation, say, with
// [auditevents.MaskIPAddress]) on the route's own copy, before the Sink sees
// it. The stored events and the other routes are unaffected.
//
// # Sinks and errors
//
// A Sink acknowledges a batch by returning nil. Any error means the batch was
// not delivered; what to do next depends on the error:
//
//   - an error for which [IsPermanent] reports true (one wrapping a
//     [*PermanentError]) means sending the same batch again will fail the
//     same way, such as a 400 Bad Request from a webhook: the caller reports
//     it to the host instead of retrying;
//   - any other error is worth retrying, after a backoff; when the sink
//     knows how long to wait (a Retry-After header), the error wraps a
//     [*RetryError] and [RetryAfter] returns the delay.
//
// Receivers de-duplicate by event ID: a batch may be delivered more than
// once, when an acknowledgement is lost.
//
// # Stores, positions and replicas
//
// Each route's positions are kept by the store, through
// [auditevents.Positions]: store/memstore keeps them in memory (they go with
// the process, and a new one starts every route from the first event);
// store/boltstore in a bucket of its file, each position a synced
// transaction; store/pgstore in the table "<table>_positions", each
// position a committed upsert. A third party's store opts in by
// implementing Positions; store/storetest checks it.
//
// Replicas of a host that share one database may each run a Forwarder with
// the same routes: a store that implements [Leaser] (store/pgstore, with
// session advisory locks) lets one replica at a time forward each route, and
// another take over, from the stored positions, when it stops or dies. See
// [Forwarder] and [Leaser]. store/memstore and store/boltstore are used by
// one process at a time, and need no lease.
package forward
