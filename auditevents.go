package auditevents

import (
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
// for the description).
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
	} {
		if reason := checkText(f.value, f.max); reason != "" {
			return &EventError{Field: f.name, Value: f.value, Reason: reason}
		}
	}
	return nil
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

// Normalize returns e as stores keep it: the ID in canonical upper case and
// the timestamp in UTC, truncated to the microsecond (the precision every
// store keeps, PostgreSQL's included). It does not validate e.
func Normalize(e AuditEvent) AuditEvent {
	e.ID = strings.ToUpper(e.ID)
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
	return e
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
