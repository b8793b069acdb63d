package storetest

import (
	"sort"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// This file is the suite's model of a store: what a correct store returns,
// computed by a linear scan over every event appended, with the contract of
// [auditevents.Query] written out plainly. It deliberately calls none of the
// code it checks (not Query.Matches, ConfigurationMatches, Compare,
// SplitConfiguration, Normalize, nor any store's code), so that a bug there
// shows up as a difference instead of being copied into the expectation.

// expect returns the events of all that a correct store returns for q, in
// result order, as the store keeps them.
func expect(all []auditevents.AuditEvent, q auditevents.Query) []auditevents.AuditEvent {
	var out []auditevents.AuditEvent
	for _, e := range all {
		e = stored(e)
		if selects(q, e) {
			out = append(out, e)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return newerFirst(out[i], out[j]) })
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out
}

// stored returns e as a store keeps it: the ID in upper case (ULIDs are
// case-insensitive, and stores keep the canonical form) and the timestamp in
// UTC, cut to the microsecond, the precision every store keeps.
func stored(e auditevents.AuditEvent) auditevents.AuditEvent {
	e.ID = strings.ToUpper(e.ID)
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
	return e
}

// selects reports whether the stored event e belongs in the result of q,
// ignoring q.Limit.
func selects(q auditevents.Query, e auditevents.AuditEvent) bool {
	// An account scope admits the events of that account only; a pointer
	// to "" admits only the events with no account.
	if q.Account != nil && e.Account != *q.Account {
		return false
	}
	// User, kind, resource name and action match exactly.
	if q.User != "" && e.User != q.User {
		return false
	}
	if q.ResourceKind != "" && e.ResourceKind != q.ResourceKind {
		return false
	}
	if q.ResourceName != "" && e.ResourceName != q.ResourceName {
		return false
	}
	if q.Action != "" && e.Action != q.Action {
		return false
	}
	// Since is inclusive and Before exclusive, both compared as instants at
	// full precision: a stored event at 12:00:00.000001 is at or after a
	// Since of 12:00:00.0000005, and before a Before of 12:00:00.0000015.
	if !q.Since.IsZero() && e.Timestamp.Before(q.Since) {
		return false
	}
	if !q.Before.IsZero() && !e.Timestamp.Before(q.Before) {
		return false
	}
	if q.Configuration != "" && !configurationSelects(q.Configuration, e.Configuration) {
		return false
	}
	// A cursor admits only the events after it in result order: older than
	// its timestamp, or as old with a smaller ID.
	if q.After != (auditevents.Cursor{}) {
		c := q.After
		older := e.Timestamp.Before(c.Timestamp)
		tieBefore := e.Timestamp.Equal(c.Timestamp) && e.ID < c.ID
		if !older && !tieBefore {
			return false
		}
	}
	return true
}

// configurationSelects reports whether an event that carries configuration
// matches the configuration-name filter. "name" matches "name" itself and
// "name:N" for every version N; "name:N" matches only "name:N". A version
// is a colon followed by one or more decimal digits at the very end, so in
// "a:b" the ":b" is part of the name.
func configurationSelects(filter, configuration string) bool {
	if configuration == filter {
		return true
	}
	if _, hasVersion := cutVersion(filter); hasVersion {
		return false
	}
	name, _ := cutVersion(configuration)
	return name == filter
}

// cutVersion returns configuration without its ":N" version suffix, and
// whether it had one.
func cutVersion(configuration string) (name string, hasVersion bool) {
	colon := strings.LastIndex(configuration, ":")
	if colon < 0 {
		return configuration, false
	}
	digits := configuration[colon+1:]
	if digits == "" {
		return configuration, false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return configuration, false
		}
	}
	return configuration[:colon], true
}

// newerFirst reports whether a comes before b in result order: newest
// timestamp first, and among events with the same timestamp the greater ID
// first.
func newerFirst(a, b auditevents.AuditEvent) bool {
	if !a.Timestamp.Equal(b.Timestamp) {
		return a.Timestamp.After(b.Timestamp)
	}
	return a.ID > b.ID
}
