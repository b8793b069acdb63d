// Package encode writes audit events in the formats that log pipelines and
// SIEMs read: [JSONLines], [CloudEvents], [OCSF] and [CEF]. Each format is an
// [Encoder]: it appends one event, or a whole batch as one body, to a byte
// slice, so a sink or an HTTP handler reuses one buffer and allocates nothing
// per event.
//
// Every encoder reads events as stores keep them: valid ([auditevents.AuditEvent.Validate])
// and normalized ([auditevents.Normalize]). Validation guarantees the text
// fields are UTF-8 without NUL bytes; each format's escaping of everything
// else (quotes, backslashes, line breaks, its own delimiters) is described on
// its type and checked against a parser in the tests.
//
// # Formats
//
//	Encoder      one event                     a batch                               ContentType
//	JSONLines    model.AuditEvent JSON         one event per line                    application/x-ndjson
//	CloudEvents  structured-mode CloudEvent    JSON array (batched content mode)     application/cloudevents-batch+json
//	OCSF         OCSF 1.3.0 API Activity       one event per line                    application/x-ndjson
//	CEF          CEF:0 line (syslog message)   one event per line                    text/plain; charset=utf-8
//
// Encoders are values without state: they are safe for concurrent use.
package encode

import "github.com/auditevents/auditevents"

// Encoder writes events in one format. Implementations in this package are
// safe for concurrent use; so should a host's own be.
type Encoder interface {
	// ContentType returns the media type of a body that AppendBatch
	// writes, as an HTTP Content-Type header carries it.
	ContentType() string
	// AppendEvent appends the encoding of one event to dst, without a line
	// terminator, and returns the extended buffer.
	AppendEvent(dst []byte, e *auditevents.AuditEvent) []byte
	// AppendBatch appends the encoding of events as one body to dst and
	// returns the extended buffer. An empty batch is an empty body in the
	// line formats and "[]" in CloudEvents.
	AppendBatch(dst []byte, events []auditevents.AuditEvent) []byte
}

// appendLines appends each event's record followed by a line feed: the batch
// framing of every line format.
func appendLines(dst []byte, events []auditevents.AuditEvent, appendEvent func([]byte, *auditevents.AuditEvent) []byte) []byte {
	for i := range events {
		dst = appendEvent(dst, &events[i])
		dst = append(dst, '\n')
	}
	return dst
}

// or returns s, or def when s is empty: the defaults of the encoders' fields.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
