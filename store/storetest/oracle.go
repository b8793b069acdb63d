package storetest

import (
	"maps"
	"net/netip"
	"sort"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// This file is the suite's model of a store: what a correct store returns,
// computed by a linear scan over every event appended, with the contract of
// [auditevents.Query] written out plainly. It deliberately calls none of the
// code it checks (not Query.Matches, ConfigurationMatches, Compare,
// SplitConfiguration, IPAddressMatches, Normalize, nor any store's code), so
// that a bug there shows up as a difference instead of being copied into the
// expectation.

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
// case-insensitive, and stores keep the canonical form), the timestamp in
// UTC, cut to the microsecond, the precision every store keeps, the IP
// address in the one spelling net/netip gives it (an IPv4-mapped IPv6
// address as IPv4), and the metadata in a map of its own, nil when it has
// no entry.
func stored(e auditevents.AuditEvent) auditevents.AuditEvent {
	e.ID = strings.ToUpper(e.ID)
	e.Timestamp = e.Timestamp.UTC().Truncate(time.Microsecond)
	if a, err := netip.ParseAddr(e.IPAddress); err == nil {
		e.IPAddress = a.Unmap().String()
	}
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	} else {
		e.Metadata = maps.Clone(e.Metadata)
	}
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
	// The request ID matches exactly; the IP address filter is a network
	// that admits the addresses of its own family only.
	if q.RequestID != "" && e.RequestID != q.RequestID {
		return false
	}
	if q.IPAddress.IsValid() && !ipSelects(q.IPAddress, e.IPAddress) {
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

// ipSelects reports whether an event whose stored IP address is ip lies in
// the network p: an address of the same family (IPv4 or IPv6) whose first
// p.Bits() bits are those of p's address. An event without an address is
// in no network.
func ipSelects(p netip.Prefix, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	want, got := p.Addr().AsSlice(), a.AsSlice()
	if len(want) != len(got) {
		return false // 4 bytes against 16: another family
	}
	for i := range p.Bits() {
		mask := byte(0x80) >> (i % 8)
		if want[i/8]&mask != got[i/8]&mask {
			return false
		}
	}
	return true
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
