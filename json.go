package auditevents

import (
	"unicode/utf8"
)

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
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"timestamp":"`...)
	dst = e.Timestamp.UTC().AppendFormat(dst, TimestampLayout)
	dst = append(dst, `","account":`...)
	dst = appendJSONString(dst, e.Account)
	dst = append(dst, `,"user":`...)
	dst = appendJSONString(dst, e.User)
	dst = append(dst, `,"action":`...)
	dst = appendJSONString(dst, string(e.Action))
	dst = append(dst, `,"resourceKind":`...)
	dst = appendJSONString(dst, string(e.ResourceKind))
	dst = append(dst, `,"resourceName":`...)
	dst = appendJSONString(dst, e.ResourceName)
	dst = append(dst, `,"configuration":`...)
	dst = appendJSONString(dst, e.Configuration)
	dst = append(dst, `,"description":`...)
	dst = appendJSONString(dst, e.Description)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// jsonSafe marks the ASCII bytes that appear in a JSON string as they are.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		safe[c] = true
	}
	for _, c := range `"\<>&` {
		safe[c] = false
	}
	return safe
}()

// appendJSONString appends s as a quoted JSON string, escaped exactly as
// encoding/json escapes it: control characters (\b, \f, \n, \r and \t in
// short form), quote and backslash, the HTML characters <, > and &, U+2028
// and U+2029, and invalid UTF-8 as U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
