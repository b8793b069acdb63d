package encode

import (
	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/internal/jsonstr"
)

// Defaults of the [CloudEvents] attributes that a host may set.
const (
	// DefaultCloudEventsSource is the source of events when
	// [CloudEvents].Source is empty: the API path that serves them.
	DefaultCloudEventsSource = "/v1/audit-events"
	// DefaultCloudEventsTypePrefix starts the type of events when
	// [CloudEvents].TypePrefix is empty: the reverse-DNS name of this
	// module's home.
	DefaultCloudEventsTypePrefix = "com.github.auditevents"
)

// CloudEvents writes events as CloudEvents 1.0 in the JSON event format
// (structured content mode), as the CloudEvents specification v1.0.2 and its
// JSON event format and HTTP protocol binding define them
// (https://github.com/cloudevents/spec/tree/v1.0.2/cloudevents). Each event's
// attributes are:
//
//	specversion      "1.0"
//	id               the event's ID, a ULID, unique across sources
//	source           Source, or [DefaultCloudEventsSource]
//	type             TypePrefix "." resourceKind "." action, such as
//	                 "com.github.auditevents.Configuration.Created"; in the
//	                 action, every byte other than A-Z a-z 0-9 - _ ~ is
//	                 percent-encoded (so "." stays a separator, and a
//	                 host's own action "Rolled back" gives "Rolled%20back")
//	subject          the resource name, omitted when empty
//	time             the event's timestamp, RFC 3339 in UTC to the microsecond
//	datacontenttype  "application/json"
//	data             the event as the JSON API returns it (model.AuditEvent,
//	                 with the actor fields that are set)
//
// A batch is a JSON array of such events, the JSON batch format that the
// CloudEvents HTTP binding sends in batched content mode
// (application/cloudevents-batch+json). JSON escapes every control
// character, so a batch holds no raw line break.
//
// The zero CloudEvents is ready to use. A CloudEvents is safe for concurrent
// use; do not change its fields while it is in use.
type CloudEvents struct {
	// Source is the source attribute of every event: a URI-reference
	// naming the producer, such as "https://bindplane.example.com". Empty
	// means DefaultCloudEventsSource.
	Source string
	// TypePrefix starts the type attribute of every event: a reverse-DNS
	// name such as "com.example.audit", without a trailing dot. Empty means
	// DefaultCloudEventsTypePrefix.
	TypePrefix string
}

var _ Encoder = CloudEvents{}

// ContentType returns "application/cloudevents-batch+json", the media type
// of a batch. One event alone, as AppendEvent writes it, is
// "application/cloudevents+json".
func (CloudEvents) ContentType() string { return "application/cloudevents-batch+json" }

// AppendEvent appends e as one structured-mode CloudEvent, a JSON object.
func (c CloudEvents) AppendEvent(dst []byte, e *auditevents.AuditEvent) []byte {
	source, prefix := or(c.Source, DefaultCloudEventsSource), or(c.TypePrefix, DefaultCloudEventsTypePrefix)
	dst = append(dst, `{"specversion":"1.0","id":`...)
	dst = jsonstr.Append(dst, e.ID)
	dst = append(dst, `,"source":`...)
	dst = jsonstr.Append(dst, source)
	dst = append(dst, `,"type":`...)
	dst = jsonstr.Append(dst, cloudEventsType(prefix, e))
	if e.ResourceName != "" {
		dst = append(dst, `,"subject":`...)
		dst = jsonstr.Append(dst, e.ResourceName)
	}
	dst = append(dst, `,"time":"`...)
	dst = e.Timestamp.UTC().AppendFormat(dst, auditevents.TimestampLayout)
	dst = append(dst, `","datacontenttype":"application/json","data":`...)
	dst = e.AppendJSON(dst)
	return append(dst, '}')
}

// AppendBatch appends events as a JSON array of CloudEvents.
func (c CloudEvents) AppendBatch(dst []byte, events []auditevents.AuditEvent) []byte {
	dst = append(dst, '[')
	for i := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = c.AppendEvent(dst, &events[i])
	}
	return append(dst, ']')
}

// cloudEventsType returns the type attribute of e: prefix, the kind and the
// action percent-encoded, joined by dots. Kinds are identifiers and need no
// encoding.
func cloudEventsType(prefix string, e *auditevents.AuditEvent) string {
	action := string(e.Action)
	plain := true
	for i := 0; i < len(action); i++ {
		if !typeSafe(action[i]) {
			plain = false
			break
		}
	}
	if plain {
		return prefix + "." + string(e.ResourceKind) + "." + action
	}
	b := make([]byte, 0, len(prefix)+len(e.ResourceKind)+3*len(action)+2)
	b = append(b, prefix...)
	b = append(b, '.')
	b = append(b, e.ResourceKind...)
	b = append(b, '.')
	for i := 0; i < len(action); i++ {
		if c := action[i]; typeSafe(c) {
			b = append(b, c)
		} else {
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xF])
		}
	}
	return string(b)
}

const upperHex = "0123456789ABCDEF"

// typeSafe reports whether c appears as it is in the action part of a type:
// the unreserved characters of RFC 3986 but the dot.
func typeSafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '~'
}
