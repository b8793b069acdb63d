package auditevents

import (
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// AuditEvent records that a user took an action on a resource at a time. Its
// JSON form has exactly the field names of the spec's model.AuditEvent.
//
// Stores keep events as [Normalize] leaves them: the ID in canonical upper
// case, the timestamp in UTC to the microsecond.
type AuditEvent struct {
	// ID is a ULID uniquely identifying this event, in its 26-character
	// Crockford base32 form. [Recorder] fills it in.
	ID string `json:"id"`
	// Timestamp is when the event occurred. It is written as RFC 3339 in UTC
	// with six fractional digits, such as "2025-01-02T15:04:05.123456Z".
	Timestamp time.Time `json:"timestamp"`
	// Account is the account the event occurred on. It is empty in
	// single-account installs.
	Account string `json:"account"`
	// User is who took the action. Required.
	User string `json:"user"`
	// Action is what was done, such as [ActionCreated]. Required.
	Action Action `json:"action"`
	// ResourceKind is the kind of resource acted on. Required.
	ResourceKind Kind `json:"resourceKind"`
	// ResourceName is the name of the resource acted on.
	ResourceName string `json:"resourceName"`
	// Configuration is the configuration affected, as "name" or
	// "name:version"; empty when no configuration is involved.
	Configuration string `json:"configuration"`
	// Description is a readable description of the event. Often empty.
	Description string `json:"description"`

	// The actor context: where the action came from. These fields extend
	// the spec's model; each is optional, and JSON and CSV carry it only
	// when set (see [AuditEvent.AppendJSON] and [CSVOptions.ActorColumns]),
	// so an event without them is exactly the spec's model.AuditEvent.
	// [Recorder.RecordWithActor] fills them from a request's context.

	// IPAddress is the address of the client that caused the event, such as
	// "192.0.2.1" or "2001:db8::1", without a zone. [Normalize] writes it as
	// [netip.Addr.String] does, an IPv4-mapped IPv6 address as IPv4, so that
	// one client always has one spelling. JSON "ipAddress".
	IPAddress string `json:"ipAddress,omitempty"`
	// UserAgent is the User-Agent the client sent, at most [MaxNameBytes].
	// JSON "userAgent".
	UserAgent string `json:"userAgent,omitempty"`
	// RequestID identifies the request, or the trace, that caused the
	// event, so that it can be found in the host's other logs. At most
	// [MaxNameBytes]. JSON "requestId".
	RequestID string `json:"requestId,omitempty"`
	// Metadata holds facts of the host's own about the event, such as a
	// session or a tenant's region: at most [MaxMetadataEntries] entries,
	// each key 1 to [MaxMetadataKeyBytes] of ASCII letters, digits, '.',
	// '_' and '-', each value at most [MaxNameBytes] of text. [Normalize]
	// copies the map, and a nil or empty map is no metadata. JSON
	// "metadata", an object with its keys in sorted order.
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Action is what was done to a resource. The constants are the actions the
// API documents; a host may record actions of its own, any non-empty string.
type Action string

// The documented actions. Configurations, users and API keys are Created,
// Modified and Deleted; rollouts are Pending, Started, Paused and Resumed.
const (
	ActionCreated  Action = "Created"
	ActionModified Action = "Modified"
	ActionDeleted  Action = "Deleted"
	ActionPending  Action = "Pending"
	ActionStarted  Action = "Started"
	ActionPaused   Action = "Paused"
	ActionResumed  Action = "Resumed"
)

// String returns a as a string.
func (a Action) String() string { return string(a) }

// TimestampLayout is the layout in which events' timestamps are written to
// JSON and CSV: RFC 3339, always in UTC, always with microseconds. Strings in
// this layout sort as the times they represent.
const TimestampLayout = "2006-01-02T15:04:05.000000Z07:00"

// Limits on the length of an event's text fields, in bytes. They keep one
// event from costing a store or a client an unbounded amount of memory, and
// keep the fields that stores index (account, user, action, resource name,
// configuration) within what every index can hold.
const (
	// MaxNameBytes bounds account, user, action, resourceName and
	// configuration.
	MaxNameBytes = 1 << 10
	// MaxDescriptionBytes bounds description.
	MaxDescriptionBytes = 64 << 10
	// MaxMetadataEntries bounds the number of entries of metadata.
	MaxMetadataEntries = 16
	// MaxMetadataKeyBytes bounds each key of metadata. Values are bounded
	// by MaxNameBytes, as are userAgent and requestId.
	MaxMetadataKeyBytes = 64
)

// Timestamps must lie within the years 1 to 9999, the range RFC 3339 can
// express.
var (
	minTimestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTimestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Validate reports whether e can be stored. It returns an [*EventError]
// naming the first offending field: an ID that is not a ULID, a zero timestamp
// or one outside the years 1 to 9999, an empty user or action, a resource
// kind that is not one of [Kinds], or a text field that is not valid UTF-8,
// holds a NUL byte or is longer than [MaxNameBytes] ([MaxDescriptionBytes]
// for the description), an ipAddress that is not an IP address without a
// zone, or metadata beyond its limits (the field is then named
// "metadata" for the map or a key, "metadata.KEY" for a value).
func (e *AuditEvent) Validate() error {
	if _, err := ulid.ParseStrict(e.ID); err != nil {
		return &EventError{Field: "id", Value: e.ID, Reason: "must be a ULID (26 Crockford base32 characters)"}
	}
	if e.Timestamp.IsZero() {
		return &EventError{Field: "timestamp", Reason: "must be set"}
	}
	if ts := e.Timestamp.UTC(); ts.Before(minTimestamp) || !ts.Before(maxTimestamp) {
		return &EventError{Field: "timestamp", Value: ts.String(), Reason: "must lie within the years 1 to 9999"}
	}
	if e.User == "" {
		return &EventError{Field: "user", Reason: "must not be empty"}
	}
	if e.Action == "" {
		return &EventError{Field: "action", Reason: "must not be empty"}
	}
	if !e.ResourceKind.Valid() {
		return &EventError{Field: "resourceKind", Value: string(e.ResourceKind), Reason: "must be one of " + kindNames}
	}
	for _, f := range [...]struct {
		name, value string
		max         int
	}{
		{"account", e.Account, MaxNameBytes},
		{"user", e.User, MaxNameBytes},
		{"action", string(e.Action), MaxNameBytes},
		{"resourceName", e.ResourceName, MaxNameBytes},
		{"configuration", e.Configuration, MaxNameBytes},
		{"description", e.Description, MaxDescriptionBytes},
		{"userAgent", e.UserAgent, MaxNameBytes},
		{"requestId", e.RequestID, MaxNameBytes},
	} {
		if reason := checkText(f.value, f.max); reason != "" {
			return &EventError{Field: f.name, Value: f.value, Reason: reason}
		}
	}
	if e.IPAddress != "" {
		if a, err := netip.ParseAddr(e.IPAddress); err != nil || a.Zone() != "" {
			return &EventError{Field: "ipAddress", Value: e.IPAddress, Reason: "must be an IPv4 or IPv6 address without a zone, such as 192.0.2.1 or 2001:db8::1"}
		}
	}
	return checkMetadata(e.Metadata)
}

// checkMetadata returns an [*EventError] for metadata beyond the limits
// that [AuditEvent.Metadata] documents, or nil.
func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetadataEntries {
		return &EventError{Field: "metadata", Value: strconv.Itoa(len(m)) + " entries", Reason: "must have at most " + strconv.Itoa(MaxMetadataEntries) + " entries"}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) { // the same error for the same map every time
		if !validMetadataKey(k) {
			return &EventError{Field: "metadata", Value: k, Reason: "keys must be 1 to " + strconv.Itoa(MaxMetadataKeyBytes) + " bytes of ASCII letters, digits, '.', '_' and '-'"}
		}
		if reason := checkText(m[k], MaxNameBytes); reason != "" {
			return &EventError{Field: "metadata." + k, Value: m[k], Reason: reason}
		}
	}
	return nil
}

// validMetadataKey reports whether k can be a key of [AuditEvent.Metadata].
// Keys are restricted so that every output (CSV, CEF, OpenTelemetry
// attributes) can name them without escaping.
func validMetadataKey(k string) bool {
	if k == "" || len(k) > MaxMetadataKeyBytes {
		return false
	}
	for _, c := range []byte(k) {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// checkText returns why s cannot be stored in a field of at most max bytes,
// or "" when it can.
func checkText(s string, max int) string {
	switch {
	case len(s) > max:
		return "must be at most " + strconv.Itoa(max) + " bytes long"
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain a NUL byte"
	}
	return ""
}

// Normalize returns e as stores keep it: the ID in canonical upper case, the
// timestamp in UTC, truncated to the microsecond (the precision every store
// keeps, PostgreSQL's included), the IP address in its canonical form, and
// a copy of the metadata (nil when empty), so that the caller's map and the
// stored event never share changes. It does not validate e, and leaves a
// malformed IP address as it is.
func Normalize(e AuditEvent) AuditEvent {
	e.ID = strings.ToUpper(e.ID)
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
	if e.IPAddress != "" {
		if a, err := netip.ParseAddr(e.IPAddress); err == nil {
			e.IPAddress = a.Unmap().String()
		}
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	} else {
		e.Metadata = maps.Clone(e.Metadata)
	}
	return e
}

// HasActor reports whether e carries any of the actor context fields:
// IPAddress, UserAgent, RequestID or Metadata.
func (e *AuditEvent) HasActor() bool {
	return e.IPAddress != "" || e.UserAgent != "" || e.RequestID != "" || len(e.Metadata) > 0
}

// Equal reports whether e and o are the same event field for field, their
// metadata compared as maps (nil equal to empty) and their timestamps as
// instants. AuditEvent holds a map, so == does not compile for it.
func (e *AuditEvent) Equal(o *AuditEvent) bool {
	return e.ID == o.ID && e.Timestamp.Equal(o.Timestamp) && e.Account == o.Account &&
		e.User == o.User && e.Action == o.Action && e.ResourceKind == o.ResourceKind &&
		e.ResourceName == o.ResourceName && e.Configuration == o.Configuration &&
		e.Description == o.Description && e.IPAddress == o.IPAddress &&
		e.UserAgent == o.UserAgent && e.RequestID == o.RequestID && maps.Equal(e.Metadata, o.Metadata)
}

// PrepareBatch validates and normalizes a batch for [Store.Append]: it is the
// first thing every store in this module does with a batch, and what a third
// party's store should do too. It returns the normalized events in a new
// slice, or an [*EventError] (with the event's index in the batch) for the
// first invalid event, or an error wrapping [ErrDuplicateID] when two events
// of the batch share an ID.
func PrepareBatch(events []AuditEvent) ([]AuditEvent, error) {
	out := make([]AuditEvent, len(events))
	var seen map[string]struct{}
	if len(events) > 1 {
		seen = make(map[string]struct{}, len(events))
	}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			err.(*EventError).Index = i
			return nil, err
		}
		out[i] = Normalize(events[i])
		if seen != nil {
			if _, dup := seen[out[i].ID]; dup {
				return nil, &DuplicateIDError{ID: out[i].ID}
			}
			seen[out[i].ID] = struct{}{}
		}
	}
	return out, nil
}

// SplitConfiguration splits a configuration as events carry it into its name
// and version: "myconfig:3" is ("myconfig", "3"), and "myconfig" is
// ("myconfig", ""). Only a suffix of a colon and decimal digits is a version,
// so a name that itself holds a colon survives.
func SplitConfiguration(configuration string) (name, version string) {
	i := strings.LastIndexByte(configuration, ':')
	if i < 0 || i == len(configuration)-1 {
		return configuration, ""
	}
	for _, c := range []byte(configuration[i+1:]) {
		if c < '0' || c > '9' {
			return configuration, ""
		}
	}
	return configuration[:i], configuration[i+1:]
}
