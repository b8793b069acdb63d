package auditevents

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// A Redactor removes or masks fields of an event before it leaves through
// one output: an HTTP endpoint for one audience, or one forwarding sink. It
// changes e in place; e is the output's own copy (its metadata map
// included), so stored events never change. ctx is the request's context
// for HTTP outputs, so a Redactor can tell one audience from another, and
// the forwarder's for sinks. A Redactor must be safe for concurrent use.
//
// Outputs whose bytes are proven (the verifiable log's entries) are never
// redacted: a redacted event would not match its leaf.
type Redactor func(ctx context.Context, e *AuditEvent)

// Apply returns a copy of e with r applied, without changing e or its
// metadata. A nil Redactor returns e as it is.
func (r Redactor) Apply(ctx context.Context, e AuditEvent) AuditEvent {
	r.ApplyTo(ctx, &e)
	return e
}

// ApplyTo applies r to *e in place, after giving *e a metadata map of its
// own, so that the map *e shared with a stored event is not changed; an
// emptied map becomes nil. It is Apply for an output that already holds its
// own copy of the event and redacts it there, without a copy per event. A
// nil Redactor leaves *e as it is.
func (r Redactor) ApplyTo(ctx context.Context, e *AuditEvent) {
	if r == nil {
		return
	}
	e.Metadata = maps.Clone(e.Metadata)
	r(ctx, e)
	if len(e.Metadata) == 0 {
		e.Metadata = nil
	}
}

// ChainRedactors returns a Redactor that applies each of rs in turn; nil
// entries are skipped.
func ChainRedactors(rs ...Redactor) Redactor {
	return func(ctx context.Context, e *AuditEvent) {
		for _, r := range rs {
			if r != nil {
				r(ctx, e)
			}
		}
	}
}

// redactable are the fields RedactFields can clear, by JSON name, in the
// order its error lists them, each with what clearing it does. The ID,
// timestamp, action and resource kind identify what happened and are kept.
var redactable = []redactableField{
	{"account", func(e *AuditEvent) { e.Account = "" }},
	{"user", func(e *AuditEvent) { e.User = "" }},
	{"resourceName", func(e *AuditEvent) { e.ResourceName = "" }},
	{"configuration", func(e *AuditEvent) { e.Configuration = "" }},
	{"description", func(e *AuditEvent) { e.Description = "" }},
	{"ipAddress", func(e *AuditEvent) { e.IPAddress = "" }},
	{"userAgent", func(e *AuditEvent) { e.UserAgent = "" }},
	{"requestId", func(e *AuditEvent) { e.RequestID = "" }},
	{"metadata", func(e *AuditEvent) { e.Metadata = nil }},
}

// redactableField is a field RedactFields can clear: its JSON name and how.
type redactableField struct {
	name  string
	clear func(e *AuditEvent)
}

// RedactFields returns a Redactor that empties the named fields, by their
// JSON names: account, user, resourceName, configuration, description,
// ipAddress, userAgent, requestId, metadata (every entry), or
// "metadata.KEY" (that one entry). It returns an error naming the first
// field it does not know, and the ones it does.
func RedactFields(fields ...string) (Redactor, error) {
	var clear []func(*AuditEvent)
	var keys []string
	for _, f := range fields {
		if k, ok := strings.CutPrefix(f, "metadata."); ok && validMetadataKey(k) {
			keys = append(keys, k)
			continue
		}
		i := slices.IndexFunc(redactable, func(r redactableField) bool { return r.name == f })
		if i < 0 {
			names := make([]string, len(redactable))
			for j, r := range redactable {
				names[j] = r.name
			}
			return nil, fmt.Errorf("auditevents: cannot redact field %q: expected one of %s, or metadata.KEY", f, strings.Join(names, ", "))
		}
		clear = append(clear, redactable[i].clear)
	}
	return func(_ context.Context, e *AuditEvent) {
		for _, c := range clear {
			c(e)
		}
		for _, k := range keys {
			delete(e.Metadata, k)
		}
	}, nil
}

// MaskIPAddress returns a Redactor that keeps only the network part of an
// event's IP address: its first ipv4Bits bits for an IPv4 address, its
// first ipv6Bits for IPv6, the rest zero. MaskIPAddress(24, 48) turns
// 192.0.2.77 into 192.0.2.0 and 2001:db8:1:2::5 into 2001:db8:1::. It
// returns an error for a bit count outside 0 to 32 (IPv4) or 0 to 128
// (IPv6). An address that does not parse is removed.
func MaskIPAddress(ipv4Bits, ipv6Bits int) (Redactor, error) {
	if ipv4Bits < 0 || ipv4Bits > 32 {
		return nil, fmt.Errorf("auditevents: masking IPv4 addresses to %d bits: expected 0 to 32", ipv4Bits)
	}
	if ipv6Bits < 0 || ipv6Bits > 128 {
		return nil, fmt.Errorf("auditevents: masking IPv6 addresses to %d bits: expected 0 to 128", ipv6Bits)
	}
	return func(_ context.Context, e *AuditEvent) {
		if e.IPAddress == "" {
			return
		}
		a, err := netip.ParseAddr(e.IPAddress)
		if err != nil {
			e.IPAddress = ""
			return
		}
		a = a.Unmap()
		bits := ipv6Bits
		if a.Is4() {
			bits = ipv4Bits
		}
		p, _ := a.WithZone("").Prefix(bits) // bits is within the address's length
		e.IPAddress = p.Addr().String()
	}, nil
}
