package encode

import "github.com/auditevents/auditevents"

// JSONLines writes each event as the spec's model.AuditEvent, with the actor
// fields that are set after the spec's, exactly as the JSON API returns it
// ([auditevents.AuditEvent.AppendJSON]), one event per
// line (JSON Lines, also known as NDJSON). JSON escapes every control
// character, so an event is always one line whatever its fields hold.
//
// The zero JSONLines is ready to use and safe for concurrent use.
type JSONLines struct{}

var _ Encoder = JSONLines{}

// ContentType returns "application/x-ndjson".
func (JSONLines) ContentType() string { return "application/x-ndjson" }

// AppendEvent appends e as one JSON object, without the line feed. It
// allocates nothing when dst has room.
func (JSONLines) AppendEvent(dst []byte, e *auditevents.AuditEvent) []byte {
	return e.AppendJSON(dst)
}

// AppendBatch appends one line per event, each ended by a line feed.
func (j JSONLines) AppendBatch(dst []byte, events []auditevents.AuditEvent) []byte {
	return appendLines(dst, events, j.AppendEvent)
}
