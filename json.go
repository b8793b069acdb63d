package auditevents

import (
	"slices"

	"github.com/auditevents/auditevents/internal/jsonstr"
)

// MarshalJSON encodes e as the spec's model.AuditEvent, with the timestamp in
// [TimestampLayout], followed by the actor fields that are set (and only
// those, so an event without them is exactly the spec's model). It is what [AuditEvent.AppendJSON] appends.
func (e AuditEvent) MarshalJSON() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256)), nil
}

// AppendJSON appends the JSON encoding of e to dst and returns the extended
// buffer. Strings are escaped byte for byte as encoding/json escapes them
// (HTML characters, U+2028 and U+2029 included, invalid UTF-8 as U+FFFD). It
// allocates nothing when dst has room: it is the encoder the HTTP layer
// streams responses with.
func (e *AuditEvent) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"id":`...)
	dst = jsonstr.Append(dst, e.ID)
	dst = append(dst, `,"timestamp":"`...)
	dst = e.Timestamp.UTC().AppendFormat(dst, TimestampLayout)
	dst = append(dst, `","account":`...)
	dst = jsonstr.Append(dst, e.Account)
	dst = append(dst, `,"user":`...)
	dst = jsonstr.Append(dst, e.User)
	dst = append(dst, `,"action":`...)
	dst = jsonstr.Append(dst, string(e.Action))
	dst = append(dst, `,"resourceKind":`...)
	dst = jsonstr.Append(dst, string(e.ResourceKind))
	dst = append(dst, `,"resourceName":`...)
	dst = jsonstr.Append(dst, e.ResourceName)
	dst = append(dst, `,"configuration":`...)
	dst = jsonstr.Append(dst, e.Configuration)
	dst = append(dst, `,"description":`...)
	dst = jsonstr.Append(dst, e.Description)
	if e.HasActor() {
		dst = e.appendActorJSON(dst)
	}
	return append(dst, '}')
}

// appendActorJSON appends the actor fields that are set, each with a leading
// comma, in the order AuditEvent declares them and with metadata's keys
// sorted, as encoding/json writes them.
func (e *AuditEvent) appendActorJSON(dst []byte) []byte {
	if e.IPAddress != "" {
		dst = append(dst, `,"ipAddress":`...)
		dst = jsonstr.Append(dst, e.IPAddress)
	}
	if e.UserAgent != "" {
		dst = append(dst, `,"userAgent":`...)
		dst = jsonstr.Append(dst, e.UserAgent)
	}
	if e.RequestID != "" {
		dst = append(dst, `,"requestId":`...)
		dst = jsonstr.Append(dst, e.RequestID)
	}
	if len(e.Metadata) > 0 {
		dst = append(dst, `,"metadata":`...)
		dst = AppendMetadataJSON(dst, e.Metadata)
	}
	return dst
}

// AppendMetadataJSON appends m as a JSON object with its keys in sorted
// order, as encoding/json writes a map[string]string, and returns the
// extended buffer. CSV and the other encodings write metadata this way.
func AppendMetadataJSON(dst []byte, m map[string]string) []byte {
	var keys [MaxMetadataEntries]string
	dst = append(dst, '{')
	for i, k := range sortedKeys(keys[:0], m) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, k)
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, m[k])
	}
	return append(dst, '}')
}

// sortedKeys appends the keys of m to buf and returns them sorted. With buf
// on the caller's stack and room for [MaxMetadataEntries] keys, as every
// valid event's metadata has, it allocates nothing: the encoders call it
// once per event.
func sortedKeys(buf []string, m map[string]string) []string {
	for k := range m {
		buf = append(buf, k)
	}
	slices.Sort(buf)
	return buf
}
