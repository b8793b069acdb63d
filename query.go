package auditevents

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// Query selects events from a [Store]. The zero Query selects every event.
// Each set field narrows the result; all set fields must match.
//
// Results come newest first by timestamp, and events with the same timestamp
// in descending order of ID (see [Compare]).
type Query struct {
	// Account, when not nil, confines the query to the events of that one
	// account; a pointer to "" confines it to events with no account. A host
	// sets it from the caller's credentials, never from a URL parameter:
	// [ParseQuery] leaves it nil. See [Query.InAccount].
	Account *string

	// User matches events whose user is exactly this. Parameter "user".
	User string
	// Configuration matches by configuration: "name" matches that
	// configuration in every version (events that carry "name" or
	// "name:N"), and "name:3" matches only version 3 (see
	// [SplitConfiguration]). Parameter "configuration-name".
	Configuration string
	// Since, when not zero, matches events at or after it. Parameter
	// "min-date".
	Since time.Time
	// Before, when not zero, matches events strictly before it. [ParseQuery]
	// sets it to the end of the unit that "max-date" writes, so that
	// max-date=20250101120000 includes 12:00:00.999999.
	Before time.Time

	// ResourceKind matches events of this kind. Parameter "resource-kind".
	ResourceKind Kind
	// ResourceName matches events whose resource name is exactly this.
	// Parameter "resource-name".
	ResourceName string
	// Action matches events with exactly this action. Parameter "action".
	Action Action

	// IPAddress, when valid, matches events whose IP address lies within
	// this prefix: 192.0.2.0/24 matches every address of that network, and
	// a whole address (192.0.2.7/32, which the parameter may write as
	// 192.0.2.7) that one address. An IPv4 prefix never matches an IPv6
	// address, nor the other way round. Parameter "ip-address".
	IPAddress netip.Prefix
	// RequestID matches events whose request ID is exactly this. Parameter
	// "request-id".
	RequestID string

	// Limit, when positive, is the most events the query returns.
	// Parameter "limit".
	Limit int
	// After, when not zero, continues a previous query: only events after
	// this position in result order match. Take it from the last event of a
	// page with [AuditEvent.Cursor]. Paging this way neither skips nor
	// repeats events, even when events are appended between pages.
	// Parameter "cursor".
	After Cursor
}

// InAccount returns a copy of q confined to the events of account.
func (q Query) InAccount(account string) Query {
	q.Account = &account
	return q
}

// The URL parameters that [ParseQuery] reads. The first four are the spec's;
// the others are this library's extensions.
const (
	ParamConfigurationName = "configuration-name"
	ParamUser              = "user"
	ParamMinDate           = "min-date"
	ParamMaxDate           = "max-date"
	ParamResourceKind      = "resource-kind"
	ParamResourceName      = "resource-name"
	ParamAction            = "action"
	ParamLimit             = "limit"
	ParamCursor            = "cursor"
	ParamIPAddress         = "ip-address"
	ParamRequestID         = "request-id"
)

var params = []string{
	ParamConfigurationName, ParamUser, ParamMinDate, ParamMaxDate,
	ParamResourceKind, ParamResourceName, ParamAction, ParamLimit, ParamCursor,
	ParamIPAddress, ParamRequestID,
}

// Params returns the names of the URL parameters that [ParseQuery] accepts,
// the spec's four first.
func Params() []string { return slices.Clone(params) }

// dateFormats is the Reason of a date parameter's error.
const dateFormats = `expected YYYYMMDDHHMMSS (UTC), RFC 3339 such as 2025-01-02T15:04:05Z or 2025-01-02T15:04:05.123456+02:00, or 2025-01-02 15:04:05.000000-07`

// ParseQuery builds a Query from URL query values, such as r.URL.Query().
//
// It accepts the spec's parameters configuration-name, user, min-date and
// max-date, and the extensions resource-kind, resource-name, action, limit,
// cursor, ip-address (an address or a CIDR prefix) and request-id. An empty value is the same as no value. Dates are read by
// [ParseDate]; min-date is inclusive, and max-date includes the whole unit
// written, to the second or to the last fractional digit given.
//
// It returns a [*QueryError] for an unknown parameter (listing the accepted
// ones), a parameter given more than once, a malformed value, or a min-date
// after max-date (a min-date within max-date's unit is fine). A text filter
// (configuration-name, user, resource-name, action, request-id) that no event could
// hold is malformed: one that is not valid UTF-8, holds a NUL byte or is
// longer than [MaxNameBytes], as [AuditEvent.Validate] refuses them. The
// account scope is never read from values.
func ParseQuery(values url.Values) (Query, error) {
	var q Query
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys) // report the same error for the same input every time
	for _, k := range keys {
		if !slices.Contains(params, k) {
			return Query{}, &QueryError{Param: "parameter", Value: k, Reason: "unknown; accepted parameters are " + strings.Join(params, ", ")}
		}
		if len(values[k]) > 1 {
			return Query{}, &QueryError{Param: k, Value: strings.Join(values[k], ","), Reason: "given more than once; give it at most once"}
		}
	}
	get := func(name string) string {
		if v := values[name]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	// A value that no event can hold matches nothing: refuse it, as
	// Append refuses it, rather than answer with an empty result.
	for _, k := range [...]string{ParamConfigurationName, ParamUser, ParamResourceName, ParamAction, ParamRequestID} {
		if v := get(k); v != "" {
			if reason := checkText(v, MaxNameBytes); reason != "" {
				return Query{}, &QueryError{Param: k, Value: v, Reason: reason}
			}
		}
	}
	q.User = get(ParamUser)
	q.Configuration = get(ParamConfigurationName)
	q.ResourceName = get(ParamResourceName)
	q.Action = Action(get(ParamAction))
	q.RequestID = get(ParamRequestID)
	if v := get(ParamIPAddress); v != "" {
		p, err := parseIPFilter(v)
		if err != nil {
			return Query{}, err
		}
		q.IPAddress = p
	}

	minRaw, maxRaw := get(ParamMinDate), get(ParamMaxDate)
	if minRaw != "" {
		t, _, err := parseDate(minRaw)
		if err != nil {
			return Query{}, &QueryError{Param: ParamMinDate, Value: minRaw, Reason: dateFormats}
		}
		q.Since = t
	}
	if maxRaw != "" {
		t, unit, err := parseDate(maxRaw)
		if err != nil {
			return Query{}, &QueryError{Param: ParamMaxDate, Value: maxRaw, Reason: dateFormats}
		}
		q.Before = t.Add(unit)
	}
	// max-date includes its whole unit, so min-date may fall inside it:
	// only a range with nothing in it is an error.
	if minRaw != "" && maxRaw != "" && !q.Since.Before(q.Before) {
		return Query{}, &QueryError{Param: ParamMinDate, Value: minRaw, Reason: "is after max-date " + quote(maxRaw) + "; min-date must not be later than max-date"}
	}

	if v := get(ParamResourceKind); v != "" {
		k, err := ParseKind(v)
		if err != nil {
			return Query{}, &QueryError{Param: ParamResourceKind, Value: v, Reason: "expected one of " + kindNames}
		}
		q.ResourceKind = k
	}
	if v := get(ParamLimit); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return Query{}, &QueryError{Param: ParamLimit, Value: v, Reason: "expected a whole number of at least 1"}
		}
		q.Limit = n
	}
	if v := get(ParamCursor); v != "" {
		c, err := ParseCursor(v)
		if err != nil {
			return Query{}, err
		}
		q.After = c
	}
	return q, nil
}

// Validate reports whether a store can run q: it returns a [*QueryError] for
// a negative limit, an unknown resource kind, a Since after Before, an
// IPAddress prefix with host bits set (or a zone, or IPv4-mapped), or a
// malformed cursor (one whose ID is not a ULID in canonical upper case, as
// [AuditEvent.Cursor] and [ParseCursor] make it). Every store calls it
// before running a query.
func (q *Query) Validate() error {
	if q.Limit < 0 {
		return &QueryError{Param: ParamLimit, Value: strconv.Itoa(q.Limit), Reason: "must not be negative"}
	}
	if q.ResourceKind != "" && !q.ResourceKind.Valid() {
		return &QueryError{Param: ParamResourceKind, Value: string(q.ResourceKind), Reason: "expected one of " + kindNames}
	}
	if !q.Since.IsZero() && !q.Before.IsZero() && q.Since.After(q.Before) {
		return &QueryError{Param: ParamMinDate, Value: q.Since.Format(time.RFC3339Nano), Reason: "is after the end of the range " + q.Before.Format(time.RFC3339Nano)}
	}
	if q.IPAddress.IsValid() && (q.IPAddress != q.IPAddress.Masked() || q.IPAddress.Addr().Is4In6() || q.IPAddress.Addr().Zone() != "") {
		return &QueryError{Param: ParamIPAddress, Value: q.IPAddress.String(), Reason: "must be a network's first address with its length, without a zone or an IPv4-mapped address, such as 192.0.2.0/24"}
	}
	if !q.After.IsZero() {
		// Stores compare IDs as strings, so the ID must be in the
		// canonical upper case that stores keep.
		if u, err := ulid.ParseStrict(q.After.ID); err != nil || u.String() != q.After.ID || q.After.Timestamp.IsZero() {
			return &QueryError{Param: ParamCursor, Value: q.After.String(), Reason: "must hold the timestamp and the canonical (upper-case) ID of an event"}
		}
	}
	return nil
}

// Matches reports whether the normalized event e belongs in the result of q:
// whether it passes every filter and, when q.After is set, comes after the
// cursor. It ignores Limit. Stores use it as the final check on candidates
// their indexes find.
func (q *Query) Matches(e *AuditEvent) bool {
	switch {
	case q.Account != nil && *q.Account != e.Account,
		q.User != "" && q.User != e.User,
		q.ResourceKind != "" && q.ResourceKind != e.ResourceKind,
		q.ResourceName != "" && q.ResourceName != e.ResourceName,
		q.Action != "" && q.Action != e.Action,
		!q.Since.IsZero() && e.Timestamp.Before(q.Since),
		!q.Before.IsZero() && !e.Timestamp.Before(q.Before),
		q.Configuration != "" && !ConfigurationMatches(q.Configuration, e.Configuration),
		q.RequestID != "" && q.RequestID != e.RequestID,
		q.IPAddress.IsValid() && !IPAddressMatches(q.IPAddress, e.IPAddress),
		!q.After.IsZero() && !q.After.Precedes(e):
		return false
	}
	return true
}

// parseIPFilter reads the ip-address parameter: an address without a zone,
// or a CIDR prefix whose host bits are zero.
func parseIPFilter(v string) (netip.Prefix, error) {
	bad := &QueryError{Param: ParamIPAddress, Value: v, Reason: "expected an IP address such as 192.0.2.7 or 2001:db8::7, or a network such as 192.0.2.0/24 or 2001:db8::/32"}
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return netip.Prefix{}, bad
		}
		if p.Addr().Is4In6() {
			return netip.Prefix{}, &QueryError{Param: ParamIPAddress, Value: v, Reason: "an IPv4-mapped prefix matches nothing; write the IPv4 network, such as 192.0.2.0/24"}
		}
		if p != p.Masked() {
			return netip.Prefix{}, &QueryError{Param: ParamIPAddress, Value: v, Reason: "has bits set after the prefix length; expected the network's first address, " + p.Masked().String()}
		}
		return p, nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, bad
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IPAddressMatches reports whether an event's IP address matches the
// ip-address filter p: whether it is an address within p.
func IPAddressMatches(p netip.Prefix, ipAddress string) bool {
	if ipAddress == "" {
		return false
	}
	a, err := netip.ParseAddr(ipAddress)
	return err == nil && p.Contains(a.Unmap())
}

// ConfigurationMatches reports whether an event's configuration matches the
// configuration-name filter: a filter "name" matches "name" and every
// "name:N"; a filter "name:N" matches only "name:N".
func ConfigurationMatches(filter, configuration string) bool {
	if filter == configuration {
		return true
	}
	fname, fversion := SplitConfiguration(filter)
	if fversion != "" {
		return false
	}
	name, _ := SplitConfiguration(configuration)
	return name == fname
}

// Compare orders events as queries return them: it is negative when a comes
// before b, that is when a is newer, or as new with a greater ID; zero when
// both have the same timestamp and ID; positive otherwise. Use it with
// slices.SortFunc.
func Compare(a, b AuditEvent) int {
	if c := b.Timestamp.Compare(a.Timestamp); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// Cursor is a position in query results: the timestamp and the ID of the
// event a page ended with. Its String form is the "cursor" URL parameter.
type Cursor struct {
	Timestamp time.Time
	ID        string
}

// Cursor returns the position of e in query results, to continue a query
// after it through [Query.After].
func (e *AuditEvent) Cursor() Cursor {
	return Cursor{Timestamp: e.Timestamp, ID: e.ID}
}

// IsZero reports whether c is the zero Cursor, which continues nothing.
func (c Cursor) IsZero() bool { return c.ID == "" && c.Timestamp.IsZero() }

// Precedes reports whether the event at c comes before e in query results,
// so that e belongs on a page that continues after c.
func (c Cursor) Precedes(e *AuditEvent) bool {
	if e.Timestamp.Equal(c.Timestamp) {
		return e.ID < c.ID
	}
	return e.Timestamp.Before(c.Timestamp)
}

// String returns c as an opaque token, made of URL-safe characters, that
// [ParseCursor] reads back. The zero Cursor is "".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.Timestamp.UnixMicro(), 10) + "_" + c.ID
}

// ParseCursor reads a token made by [Cursor.String]. A malformed token
// returns a [*QueryError] for the parameter "cursor".
func ParseCursor(s string) (Cursor, error) {
	bad := &QueryError{Param: ParamCursor, Value: s, Reason: "expected a cursor returned by an earlier page"}
	us, id, ok := strings.Cut(s, "_")
	if !ok {
		return Cursor{}, bad
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return Cursor{}, bad
	}
	u, err := ulid.ParseStrict(id)
	if err != nil {
		return Cursor{}, bad
	}
	ts := time.UnixMicro(n).UTC()
	if ts.Before(minTimestamp) || !ts.Before(maxTimestamp) {
		return Cursor{}, bad
	}
	return Cursor{Timestamp: ts, ID: u.String()}, nil
}
