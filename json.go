package auditevents

import "github.com/auditevents/auditevents/internal/jsonstr"

// MarshalJSON encodes e as the spec's model.AuditEvent, with the timestamp in
// [TimestampLayout]. It is what [AuditEvent.AppendJSON] appends.
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
	return append(dst, '}')
}
