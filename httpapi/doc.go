// Package httpapi serves the two operations of Bindplane's audit events API
// from any [auditevents.Store], inside a host's own HTTP server:
//
//	GET /v1/audit-events            the matching events as a JSON array
//	GET /v1/audit-events/download   the same events as a CSV file
//
// [New] builds a [Handler]; [Handler.Register] mounts both endpoints on any
// router with a Handle(pattern, handler) method, such as *http.ServeMux or
// chi, and [Handler.Routes] lists them (method, path below the prefix,
// handler) for any other router, such as gorilla/mux, echo or gin. Nothing
// is registered on http.DefaultServeMux, and the host's other routes and
// middleware keep working beside the endpoints.
//
// Both endpoints answer GET and HEAD (headers only, as GET would send them).
// Events come newest first, in the order of [auditevents.Compare].
//
// Two extensions are opt-in: the verifiable log's endpoints
// ([Options.Log]), and the live tail ([Options.Tail]):
//
//	GET /v1/audit-events/tail       new events as Server-Sent Events, as they are committed
//
// # Parameters
//
// Both endpoints take the same query parameters, each at most once. The
// specification's four:
//
//	configuration-name  a configuration name, matching it in every version
//	                    ("myconfig"), or a name and version ("myconfig:3")
//	user                the user who acted, exactly
//	min-date            the earliest timestamp, inclusive
//	max-date            the latest timestamp, inclusive of the whole unit
//	                    written (20250102150405 includes 15:04:05.999999)
//
// Dates are accepted as the specification's YYYYMMDDHHMMSS (UTC), as RFC
// 3339 (2025-01-02T15:04:05.123456+02:00), and as Bindplane's collector
// sends them (2025-01-02 15:04:05.000000-07); see [auditevents.ParseDate].
//
// Extensions, which a client of the specification never notices:
//
//	resource-kind   one of [auditevents.Kinds], such as Configuration
//	resource-name   the resource's name, exactly
//	action          the action, exactly, such as Created
//	limit           the most events in the response, 1 to Options.MaxLimit
//	cursor          where the previous page ended
//	ip-address      the actor's IP address: an address (192.0.2.7,
//	                2001:db8::7) or a network (192.0.2.0/24), whose host
//	                bits must be zero; an IPv4 filter never matches IPv6
//	request-id      the actor's request ID, exactly
//
// With limit, a response that is not the last page carries an RFC 8288
// header naming the next one:
//
//	Link: </v1/audit-events?cursor=...&limit=100>; rel="next"
//
// It names the path the request arrived on at the server (its RequestURI,
// which http.StripPrefix, sub-routers and route groups leave as it was), or
// Options.BaseURL when a reverse proxy serves the endpoints under another
// path. It repeats the request's parameters with cursor set to the position
// of the page's last event. The handler reads one event more than the limit, so the
// header appears exactly when another page exists, and a client follows it
// until it is absent. Paging neither skips nor repeats events, even when
// events are appended meanwhile. A page is assembled in memory before it is
// sent, bounded by Options.MaxLimit events and Options.MaxPageBytes bytes; a
// page that reaches MaxPageBytes ends before limit events, with a Link to
// the rest, so follow Link rather than counting events. A response without
// limit streams.
//
// # JSON Lines download
//
// The download serves JSON Lines instead of the CSV file when asked: with
// the parameter format=jsonl ([ParamFormat]; format=csv is the default), or,
// without it, with an Accept header that prefers application/x-ndjson (or
// application/jsonl) to the CSV's application/octet-stream and text/csv:
//
//	curl -H 'Accept: application/x-ndjson' .../v1/audit-events/download
//	curl '.../v1/audit-events/download?format=jsonl&user=alice'
//
// Each line is one event as the list endpoint writes it
// ([encode.JSONLines]), newest first; the response is application/x-ndjson,
// an attachment named audit-events-<time>.jsonl, streamed with flat memory
// and ended by [CountTrailer], as the CSV is. A request without the
// parameter and without such an Accept header (no Accept, */*,
// application/octet-stream, application/json) gets the CSV file with the
// same headers as before; the list endpoint refuses format as an unknown
// parameter.
//
// # Live tail
//
// With [Options.Tail] set, GET Prefix+"/audit-events/tail" ([TailPath])
// streams an account's events as Server-Sent Events (text/event-stream) as
// they are committed, in the account's sequence order
// ([auditevents.Ledger]); the store must implement auditevents.Ledger, as
// every store of this module does, or [New] refuses the option. Each event
// is one message whose id is the event's sequence in its account and whose
// data is the event's JSON:
//
//	id: 42
//	data: {"id":"01JGKRQ3M8V63QXKKD6T5A4P2B","timestamp":"...",...}
//
// Where the stream starts:
//
//   - with a Last-Event-ID header (which EventSource sends when it
//     reconnects), right after that sequence: a client that reconnects
//     gets every later event once, none lost, none repeated;
//   - else with the parameter from=N ([ParamFrom]), at sequence N: from=0
//     streams the account's whole log, then its new events;
//   - else at the end of the log: only events committed after the request.
//
// The stream's first message is an id without data, the sequence before
// its start (-1 before the first event), so that a client that reconnects
// before any event resumes there. EventSource remembers such an id and
// dispatches no event.
//
// The filters of the listing apply (configuration-name, user, min-date,
// max-date, resource-kind, resource-name, action, ip-address, request-id);
// limit and cursor are refused. Ids stay the account's sequences, so they skip the events the
// filters pass over; each heartbeat that follows such events carries the
// id of the last one, so that a reconnect does not read them again.
// Heartbeats are comment lines, ": heartbeat", every
// [TailOptions.Heartbeat] (15 seconds by default).
//
// The account is the one [Options.Authorize] returns, and the parameter
// account ([ParamAccount]) is then refused; without Authorize the account
// parameter chooses it ("" by default). Bad parameters, a bad Last-Event-ID
// and a from beyond the log get 400 in the specification's error shape, as
// application/json; more than [TailOptions.MaxConns] tails at once get 503.
//
// A store that implements [auditevents.Notifier] (store/memstore,
// store/boltstore) wakes each tail at each commit of its account. Any other
// (store/pgstore, whose commits may come from another replica) is read
// every [TailOptions.PollInterval], a second by default.
//
// A tail's memory is bounded: a buffer of 36 KiB (grown for one outsized
// event, and given back after it) and the chunk the store reads the log in
// (256 entries for memstore); it never holds the store's iterator open
// while it writes. Each
// write has its own deadline, Options.WriteTimeout, so a client that stops
// reading is dropped within it, and no writer ever waits for a tail. A
// stream ends when its client leaves, when it is dropped, or when the store
// fails or is closed (the connection is then broken, and EventSource
// reconnects), or cleanly when [TailOptions.Done] is closed.
// http.Server.Shutdown does not end a stream, which is never idle: close
// Done in the server's RegisterOnShutdown, as examples/server does.
//
// # Streaming
//
// A response without limit is written as the store yields events, flushed
// every 32 KiB, so memory stays flat whatever the number of events and the
// first bytes leave before the store reads the last event. A client that
// disconnects cancels the request's context, which stops the store's query.
//
// Each write of a body gets a write deadline of its own,
// Options.WriteTimeout (a minute by default) from then, set through
// http.ResponseController: a download that keeps moving outlasts the
// server's http.Server.WriteTimeout, and a client that stops reading is
// dropped. A response writer whose Flush panics, as echo's does over a
// net/http middleware's writer that cannot flush, is not flushed again for
// that response, which goes on whole; the first such panic is logged with
// its stack.
//
// # Complete responses
//
// Every 200 response to GET announces the trailer [CountTrailer]
// (Trailer: Audit-Events-Count), and a complete body is followed by it,
// holding the number of events in the body (rows of the CSV). It is set
// only once the body's last byte has been written. A client that reads the
// body to its end and finds no Audit-Events-Count has an incomplete body,
// whatever sat between the handler and it; in Go:
//
//	body, err := io.ReadAll(res.Body)
//	if err != nil || res.Trailer.Get(httpapi.CountTrailer) == "" {
//		// incomplete: retry
//	}
//
// HTTP/1.1 and HTTP/2 carry trailers; an HTTP/1.0 client gets none.
//
// # Errors
//
// Errors are the specification's ErrorResponse, {"errors": ["..."]}, with
// the content type the specification gives each endpoint: application/json
// for the list, application/octet-stream for the download (its body is the
// same JSON text, for a person to read).
//
//	400  a parameter that is unknown (the message lists the accepted ones),
//	     repeated or malformed (the message names it and what is accepted),
//	     a malformed query string, or one longer than Options.MaxQueryBytes
//	     or with more than Options.MaxParams parameters
//	401  Options.Authorize returned an error wrapping [ErrUnauthorized]
//	403  Options.Authorize returned an error wrapping [ErrForbidden]
//	405  a method other than GET or HEAD; the Allow header lists those two
//	500  the store failed, or Options.Authorize returned another error; the
//	     client gets a generic message, and the error goes to Options.Logger
//
// A store that fails after the first bytes of the body have left cannot
// change the status any more: the handler logs the error, closes the
// connection and panics with http.ErrAbortHandler, so the client sees a
// truncated transfer, never a complete-looking body that misses events,
// and never the trailer. Closing the connection first keeps that true
// behind middleware that recovers every panic and lets the server end the
// response cleanly, as gin's Recovery and gorilla's RecoveryHandler do. An
// HTTP/2 stream cannot be closed that way: there, such a middleware ends
// the response cleanly, and only the missing trailer tells.
//
// # The verifiable log
//
// With [Options.Log] set, and a store that implements [auditevents.Ledger],
// [Handler.Register] also mounts the log's endpoints, an extension that
// openapi-log.json in this package's directory documents:
// [CheckpointPath] (a checkpoint of the account's tree, signed now),
// [EntriesPath] (the account's events in sequence order, as streamed JSON
// Lines), [InclusionPath] and [ConsistencyPath] (proofs, for tlog.CheckRecord
// and tlog.CheckTree) and [HashesPath] (stored tree hashes). Each is confined
// to the account of Options.Authorize, or without it to the "account"
// parameter; a bad parameter or a size beyond the tree is a 400 in the
// spec's error shape. [LogClient] reads them, for [auditevents.Verify].
//
// # Actor context
//
// Events may carry the actor's context: the client's IP address, its user
// agent, a request ID and host metadata (see [auditevents.AuditEvent]).
// The listing, the JSON Lines download and the tail write them as the
// extension fields ipAddress, userAgent, requestId and metadata, only when
// set, so an event without them is exactly the specification's model; the
// CSV download adds their columns only with Options.CSV's ActorColumns.
//
// [ActorMiddleware] fills that context for the host's own handlers: wrap
// the host's mux in it, and [auditevents.Recorder.RecordWithActor] copies
// the client's address, user agent and request ID into the events a
// handler records. The address is the connection's peer; X-Forwarded-For
// (or Forwarded) is read only when the peer is one of
// [ActorOptions.TrustedProxies], and then only as far as those proxies
// wrote it. Never trust the header otherwise: any client can send it.
//
// # Redaction
//
// [Options.Redact] gives each endpoint that serves events a
// [auditevents.Redactor], the type the forwarder's routes take too, that
// removes or masks fields of each event's copy before it is encoded, with
// the request's context to tell audiences apart (see [Redaction] and its
// example). Stored events never change. The verifiable log's endpoints are
// never redacted: a redacted entry would not match its leaf.
//
// # Auditing the readers
//
// [Options.OnRead] is called once after every request to an endpoint,
// refused ones included, with a [Read]: who asked (the account, whether
// Authorize accepted them, and the request itself), the endpoint and
// query, the status, the number of events served, whether the response
// was complete, and how long it took. [Read.Event] makes of it an event of
// the kind AuditTrail that the host records as its own; since the hook
// runs once per request, at its end, recording reads never loops.
//
// # Security
//
// Without Options.Authorize the endpoints are open: anyone who can reach
// them reads every audit event of every account. Set Authorize, or mount
// the endpoints behind the host's own authentication middleware.
//
// With Authorize set, every request is checked before its parameters are
// read, and every query is confined to the account Authorize returns; no
// parameter can widen it. Unknown parameters are refused, so a misspelled
// filter never silently returns everything, and so are filters no event
// can hold (not UTF-8, a NUL byte), so they never silently return nothing. Oversized query strings and
// requests with too many parameters are refused before they are parsed.
// Every response carries X-Content-Type-Options: nosniff and
// Cache-Control: no-store; the download carries Content-Disposition:
// attachment with a generated file name, and its cells that a spreadsheet
// would run as formulas are neutralised (see [auditevents.CSVOptions]).
package httpapi
