package encode

import (
	"strconv"
	"strings"

	"github.com/auditevents/auditevents"
)

// CEF writes events in ArcSight's Common Event Format, version 0, for SIEMs
// that read syslog: each event is one line
//
//	CEF:0|Vendor|Product|Version|resourceKind:action|resourceKind action|3|extension
//
// that a host sends as the message of a syslog record (this package writes no
// syslog header). The severity is always 3, the top of CEF's Low band: an
// audit event records an action, not an alert. The extension holds, in this
// order and omitting those whose value is empty:
//
//	rt                                the timestamp, in milliseconds since the epoch
//	externalId                        the event's ID
//	suser                             the user
//	act                               the action
//	cs1Label=account cs1              the account
//	cs2Label=resourceKind cs2         the resource kind
//	cs3Label=resourceName cs3         the resource name
//	cs4Label=configuration cs4        the configuration
//	src                               the IP address, when it is IPv4
//	c6a2Label=Source IPv6 Address c6a2
//	                                  the IP address, when it is IPv6: CEF's
//	                                  src holds IPv4 only, and c6a2 is its
//	                                  custom field for a source IPv6 address
//	requestClientApplication          the user agent
//	cs5Label=requestId cs5            the request ID
//	cs6Label=metadata cs6             the metadata, as a JSON object with its
//	                                  keys sorted
//	msg                               the description
//
// The actor fields (src to cs6) appear only when set, so an event without
// actor context is encoded exactly as it was before they existed.
//
// Escaping follows the CEF specification (ArcSight, "Implementing ArcSight
// Common Event Format (CEF)", version 25). In the header, a backslash is
// written \\ and a pipe \|. In extension values, a backslash is written \\, an
// equals sign \=, a line feed \n and a carriage return \r. CEF has no escape
// for other control characters (a tab, an escape character) and allows line
// breaks nowhere else, so any other control character, and a line break in the
// header, is written as a space: a line is always one syslog message, and
// nothing in a field can forge a header or an extension key. CEF advises
// lengths (1023 characters for msg and suser); this encoder writes values
// whole and leaves truncation to the receiver.
//
// The zero CEF is ready to use. A CEF is safe for concurrent use; do not
// change its fields while it is in use.
type CEF struct {
	// Vendor is the Device Vendor of the header. Empty means
	// "auditevents".
	Vendor string
	// Product is the Device Product of the header. Empty means
	// "auditevents".
	Product string
	// Version is the Device Version of the header, such as the host's
	// release. Empty leaves the field empty.
	Version string
}

var _ Encoder = CEF{}

// cefSeverity is the Severity of every event: Low.
const cefSeverity = "3"

// ContentType returns "text/plain; charset=utf-8".
func (CEF) ContentType() string { return "text/plain; charset=utf-8" }

// AppendEvent appends e as one CEF line, without the line feed.
func (c CEF) AppendEvent(dst []byte, e *auditevents.AuditEvent) []byte {
	vendor, product := or(c.Vendor, "auditevents"), or(c.Product, "auditevents")
	dst = append(dst, "CEF:0|"...)
	dst = appendCEFHeader(dst, vendor)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, product)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, c.Version)
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, string(e.ResourceKind))
	dst = append(dst, ':')
	dst = appendCEFHeader(dst, string(e.Action))
	dst = append(dst, '|')
	dst = appendCEFHeader(dst, string(e.ResourceKind))
	dst = append(dst, ' ')
	dst = appendCEFHeader(dst, string(e.Action))
	dst = append(dst, "|"+cefSeverity+"|rt="...)
	dst = strconv.AppendInt(dst, e.Timestamp.UnixMilli(), 10)
	dst = appendCEFPair(dst, "externalId", e.ID)
	dst = appendCEFPair(dst, "suser", e.User)
	dst = appendCEFPair(dst, "act", string(e.Action))
	dst = appendCEFCustom(dst, "cs1", "account", e.Account)
	dst = appendCEFCustom(dst, "cs2", "resourceKind", string(e.ResourceKind))
	dst = appendCEFCustom(dst, "cs3", "resourceName", e.ResourceName)
	dst = appendCEFCustom(dst, "cs4", "configuration", e.Configuration)
	if e.HasActor() {
		dst = appendCEFActor(dst, e)
	}
	return appendCEFPair(dst, "msg", e.Description)
}

// AppendBatch appends one line per event, each ended by a line feed.
func (c CEF) AppendBatch(dst []byte, events []auditevents.AuditEvent) []byte {
	return appendLines(dst, events, c.AppendEvent)
}

// appendCEFActor appends the actor fields of e that are set.
func appendCEFActor(dst []byte, e *auditevents.AuditEvent) []byte {
	if strings.Contains(e.IPAddress, ":") { // stores keep IPv4 as IPv4, never mapped
		dst = appendCEFCustom(dst, "c6a2", "Source IPv6 Address", e.IPAddress)
	} else {
		dst = appendCEFPair(dst, "src", e.IPAddress)
	}
	dst = appendCEFPair(dst, "requestClientApplication", e.UserAgent)
	dst = appendCEFCustom(dst, "cs5", "requestId", e.RequestID)
	if len(e.Metadata) > 0 {
		// The JSON is built on the stack and escaped from there: no
		// allocation per event.
		var buf [512]byte
		dst = appendCEFCustom(dst, "cs6", "metadata", auditevents.AppendMetadataJSON(buf[:0], e.Metadata))
	}
	return dst
}

// appendCEFPair appends " key=value", value escaped, or nothing when value
// is empty.
func appendCEFPair[S string | []byte](dst []byte, key string, value S) []byte {
	if len(value) == 0 {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, key...)
	dst = append(dst, '=')
	return appendCEFExtension(dst, value)
}

// appendCEFCustom appends a custom string and its label, " csNLabel=label
// csN=value", or nothing when value is empty.
func appendCEFCustom[S string | []byte](dst []byte, key, label string, value S) []byte {
	if len(value) == 0 {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, key...)
	dst = append(dst, "Label="...)
	dst = append(dst, label...)
	return appendCEFPair(dst, key, value)
}

// appendCEFHeader appends s escaped for a header field.
func appendCEFHeader(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '|':
			dst = append(dst, '\\', c)
		case c < 0x20 || c == 0x7f:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendCEFExtension appends s escaped for an extension value.
func appendCEFExtension[S string | []byte](dst []byte, s S) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' || c == '=':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c < 0x20 || c == 0x7f:
			dst = append(dst, ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
