package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditevents/auditevents"
)

// castagnoli is the CRC-32C table; it has hardware support on amd64 and arm64.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// codeTable maps names (of kinds or actions) to small codes and back. Code 0
// is reserved: for actions it means the name follows as a string. A table
// only grows, and its order is stored in the file, so codes never change
// meaning.
type codeTable struct {
	names []string       // names[i] has code i+1
	codes map[string]int // name -> code
}

func newCodeTable(names []string) *codeTable {
	t := &codeTable{names: names, codes: make(map[string]int, len(names))}
	for i, n := range names {
		t.codes[n] = i + 1
	}
	return t
}

// parseCodeTable reads a table as stored in the meta bucket: a CRC-32C of
// the names, then the names separated by newlines. It fails, wrapping
// ErrCorrupt, on a damaged table.
func parseCodeTable(what string, b []byte) (*codeTable, error) {
	if len(b) < 4 || binary.BigEndian.Uint32(b) != crc32.Checksum(b[4:], castagnoli) {
		return nil, corruptf("the %s table is damaged", what)
	}
	if len(b) == 4 {
		return newCodeTable(nil), nil
	}
	return newCodeTable(strings.Split(string(b[4:]), "\n")), nil
}

// bytes returns t as stored in the meta bucket.
func (t *codeTable) bytes() []byte {
	names := []byte(strings.Join(t.names, "\n"))
	return append(binary.BigEndian.AppendUint32(nil, crc32.Checksum(names, castagnoli)), names...)
}

// extend returns t with every name of names that t lacks appended, and
// whether it added any.
func (t *codeTable) extend(names []string) (*codeTable, bool) {
	var add []string
	for _, n := range names {
		if _, ok := t.codes[n]; !ok {
			add = append(add, n)
		}
	}
	if len(add) == 0 {
		return t, false
	}
	return newCodeTable(append(append([]string(nil), t.names...), add...)), true
}

// name returns the name with code c, or false when c is not in the table.
func (t *codeTable) name(c uint64) (string, bool) {
	if c == 0 || c > uint64(len(t.names)) {
		return "", false
	}
	return t.names[c-1], true
}

// codec encodes event values with the code tables of one file.
type codec struct {
	kinds, actions *codeTable
	dict           *dict
	upgrade        uint32 // the format version of an older file that Open upgrades (upgrade.go); 0 when current
	noLog          bool   // the file has no log: meta/nolog, or format 2
}

// logged reports whether the file's values start with the log prefix (the
// sequence and the leaf check): a file with the log of format 6 or later.
// The values of a file of format 5 or before, and of a file without the log
// (Options.NoLog), have no prefix.
func (c *codec) logged() bool {
	return !c.noLog && (c.upgrade == 0 || c.upgrade >= valuesLogged)
}

// valuesLogged is the format whose event values begin with the log prefix.
const valuesLogged = 6

// leafCheckLen is the length of the leaf check in an event's value: a
// CRC-32C of the event's leaf record (auditevents.AppendLeaf), computed by
// leafHasher.
const leafCheckLen = 4

// logRef is what an event's value holds of its account's log: its sequence
// and its leaf check; and the event's leaf, for the log.
type logRef struct {
	seq   int64
	leaf  tlog.Hash
	check [leafCheckLen]byte
}

// The value of an event is, in order: a CRC-32C of the rest; in a file
// with the log, the event's sequence as a uvarint and the CRC-32C of its
// leaf record (the leaf check); the kind's code; the action's code, or 0
// when the action is not in the table; the account, the user, the action
// when its code is 0, the resource name, the configuration and the
// description; then, only for an event that has any, the actor section
// (below). The action and the description are written as a uvarint length
// and the bytes; the other strings as their dictionary code, or 0 followed
// by the length and the bytes. The timestamp and the ID are in the key.

// The actor section starts with a byte of flags saying which actor fields
// follow, in this order: the IP address (its 4 or 16 bytes, after a byte
// holding the length), the user agent (coded), the request ID (a string:
// request IDs do not repeat, so they never take dictionary codes), and the
// metadata (a uvarint count, then each entry in ascending key order: the
// key, coded, and the value, a string). An event without actor fields has
// no section: its value ends with the description, as in format 4.
const (
	actorIP = 1 << iota
	actorUserAgent
	actorRequestID
	actorMetadata
	actorAll = actorIP | actorUserAgent | actorRequestID | actorMetadata
)

// appendValue appends the encoding of e to dst, with the log prefix of lr
// unless lr is nil (a file without the log). It fails only when e's kind is
// not in the table, which Open prevents for every kind this package knows,
// or when its IP address does not parse (appendActor), which Validate
// prevents; dst is then returned as it was.
func (c *codec) appendValue(dst []byte, e *auditevents.AuditEvent, lr *logRef) ([]byte, error) {
	kind, ok := c.kinds.codes[string(e.ResourceKind)]
	if !ok {
		return dst, fmt.Errorf("boltstore: resource kind %q has no code in this file", e.ResourceKind)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	if lr != nil {
		dst = binary.AppendUvarint(dst, uint64(lr.seq))
		dst = append(dst, lr.check[:]...)
	}
	dst = binary.AppendUvarint(dst, uint64(kind))
	action := c.actions.codes[string(e.Action)] // 0 when absent
	dst = binary.AppendUvarint(dst, uint64(action))
	dst = c.appendCoded(dst, fieldAccount, e.Account)
	dst = c.appendCoded(dst, fieldUser, e.User)
	if action == 0 {
		dst = appendString(dst, string(e.Action))
	}
	dst = c.appendCoded(dst, fieldResourceName, e.ResourceName)
	dst = c.appendCoded(dst, fieldConfiguration, e.Configuration)
	dst = appendString(dst, e.Description)
	dst, err := c.appendActor(dst, e)
	if err != nil {
		return dst[:start], err
	}
	binary.BigEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
	return dst, nil
}

// appendActor appends the actor section of e, or nothing when e has no
// actor fields. It fails only for an IP address that does not parse, which
// Validate prevents.
func (c *codec) appendActor(dst []byte, e *auditevents.AuditEvent) ([]byte, error) {
	var flags byte
	if e.IPAddress != "" {
		flags |= actorIP
	}
	if e.UserAgent != "" {
		flags |= actorUserAgent
	}
	if e.RequestID != "" {
		flags |= actorRequestID
	}
	if len(e.Metadata) > 0 {
		flags |= actorMetadata
	}
	if flags == 0 {
		return dst, nil
	}
	dst = append(dst, flags)
	if flags&actorIP != 0 {
		a, err := netip.ParseAddr(e.IPAddress)
		if err != nil || a.Zone() != "" {
			return dst, fmt.Errorf("boltstore: event %s: ip address %q is not an address without a zone", e.ID, e.IPAddress)
		}
		b := a.AsSlice()
		dst = append(append(dst, byte(len(b))), b...)
	}
	if flags&actorUserAgent != 0 {
		dst = c.appendCoded(dst, fieldUserAgent, e.UserAgent)
	}
	if flags&actorRequestID != 0 {
		dst = appendString(dst, e.RequestID)
	}
	if flags&actorMetadata != 0 {
		dst = binary.AppendUvarint(dst, uint64(len(e.Metadata)))
		keys := make([]string, 0, len(e.Metadata))
		for k := range e.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			dst = c.appendCoded(dst, fieldMetadataKey, k)
			dst = appendString(dst, e.Metadata[k])
		}
	}
	return dst, nil
}

func (c *codec) appendCoded(dst []byte, field int, s string) []byte {
	code := c.dict.code(field, s)
	dst = binary.AppendUvarint(dst, uint64(code))
	if code != 0 {
		return dst
	}
	return appendString(dst, s)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// decode reads the event stored under key with value v. The event's
// strings share one allocation and do not refer to v, which bbolt may unmap
// once the transaction ends. A value that does not decode returns an error
// wrapping [ErrCorrupt], never a panic.
func (c *codec) decode(key, v []byte) (auditevents.AuditEvent, error) {
	e, _, _, err := c.decodeEntry(key, v)
	return e, err
}

// decodeEntry is decode that also returns, in a file with the log, the
// event's sequence and leaf check from its value.
func (c *codec) decodeEntry(key, v []byte) (e auditevents.AuditEvent, seq int64, check [leafCheckLen]byte, err error) {
	if len(key) != keyLen {
		return e, 0, check, corruptf("event key %x has %d bytes, want %d", key, len(key), keyLen)
	}
	if len(v) < 4 || binary.BigEndian.Uint32(v) != crc32.Checksum(v[4:], castagnoli) {
		return e, 0, check, corruptf("event %x: checksum mismatch", key)
	}
	rest := v[4:]
	if c.logged() {
		s, n := binary.Uvarint(rest)
		if n <= 0 || s > math.MaxInt64 || len(rest) < n+leafCheckLen {
			return e, 0, check, corruptf("event %x: malformed sequence", key)
		}
		seq = int64(s)
		copy(check[:], rest[n:])
		rest = rest[n+leafCheckLen:]
	}
	e, err = c.decodeRest(key, rest)
	return e, seq, check, err
}

// decodeRest decodes the fields of an event's value after its checksum and
// log prefix.
func (c *codec) decodeRest(key, rest []byte) (auditevents.AuditEvent, error) {
	var e auditevents.AuditEvent
	s := string(rest) // one copy, sliced into fields below
	d := decoder{s: s, dict: c.dict}
	kindCode := d.uvarint()
	actionCode := d.uvarint()
	e.Account = d.coded()
	e.User = d.coded()
	if actionCode == 0 {
		e.Action = auditevents.Action(d.str())
	} else if name, ok := c.actions.name(actionCode); ok {
		e.Action = auditevents.Action(name)
	} else {
		return auditevents.AuditEvent{}, corruptf("event %x: unknown action code %d", key, actionCode)
	}
	e.ResourceName = d.coded()
	e.Configuration = d.coded()
	e.Description = d.str()
	if !d.bad && d.off < len(s) {
		d.actor(&e)
	}
	if d.bad || d.off != len(s) {
		return auditevents.AuditEvent{}, corruptf("event %x: malformed value", key)
	}
	kind, ok := c.kinds.name(kindCode)
	if !ok {
		return auditevents.AuditEvent{}, corruptf("event %x: unknown resource kind code %d", key, kindCode)
	}
	e.ResourceKind = auditevents.Kind(kind)
	e.Timestamp = time.UnixMicro(keyTime(key)).UTC()
	e.ID = ulid.ULID(key[8:keyLen]).String()
	return e, nil
}

// decoder reads uvarints and strings from s, recording the first failure
// in bad instead of panicking.
type decoder struct {
	s    string
	off  int
	bad  bool
	dict *dict
}

func (d *decoder) uvarint() uint64 {
	var x uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.off >= len(d.s) {
			d.bad = true
			return 0
		}
		b := d.s[d.off]
		d.off++
		x |= uint64(b&0x7f) << shift
		if b < 0x80 {
			return x
		}
	}
	d.bad = true
	return 0
}

func (d *decoder) str() string {
	n := d.uvarint()
	if d.bad || n > uint64(len(d.s)-d.off) {
		d.bad = true
		return ""
	}
	s := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return s
}

// actor reads the actor section written by appendActor into e. A section
// that appendActor would not write (no flags, unknown flags, an address of
// another length, metadata out of order or beyond its bound) is bad: each
// event has one encoding.
func (d *decoder) actor(e *auditevents.AuditEvent) {
	flags := d.s[d.off]
	d.off++
	if flags == 0 || flags&^actorAll != 0 {
		d.bad = true
		return
	}
	if flags&actorIP != 0 {
		if d.off >= len(d.s) {
			d.bad = true
			return
		}
		n := int(d.s[d.off])
		d.off++
		if (n != 4 && n != 16) || n > len(d.s)-d.off {
			d.bad = true
			return
		}
		a, _ := netip.AddrFromSlice([]byte(d.s[d.off : d.off+n]))
		d.off += n
		e.IPAddress = a.String()
	}
	if flags&actorUserAgent != 0 {
		if e.UserAgent = d.coded(); e.UserAgent == "" {
			d.bad = true
		}
	}
	if flags&actorRequestID != 0 {
		if e.RequestID = d.str(); e.RequestID == "" {
			d.bad = true
		}
	}
	if flags&actorMetadata != 0 {
		n := d.uvarint()
		if d.bad || n == 0 || n > auditevents.MaxMetadataEntries {
			d.bad = true
			return
		}
		e.Metadata = make(map[string]string, n)
		prev := ""
		for i := range n {
			k := d.coded()
			v := d.str()
			if d.bad || k == "" || (i > 0 && k <= prev) {
				d.bad = true
				return
			}
			e.Metadata[k] = v
			prev = k
		}
	}
}

// coded reads a string written by appendCoded.
func (d *decoder) coded() string {
	code := d.uvarint()
	if code == 0 {
		return d.str()
	}
	s, ok := d.dict.name(code)
	if !ok {
		d.bad = true
	}
	return s
}

// documentedActions is the action table of a new file.
var documentedActions = []string{
	string(auditevents.ActionCreated),
	string(auditevents.ActionModified),
	string(auditevents.ActionDeleted),
	string(auditevents.ActionPending),
	string(auditevents.ActionStarted),
	string(auditevents.ActionPaused),
	string(auditevents.ActionResumed),
}

// withLogPrefix returns the value v of a file without the log, given the
// log prefix of lr: the upgrade of an older file (upgrade.go).
func withLogPrefix(v []byte, lr logRef) []byte {
	out := make([]byte, 4, len(v)+binary.MaxVarintLen64+leafCheckLen)
	out = binary.AppendUvarint(out, uint64(lr.seq))
	out = append(out, lr.check[:]...)
	out = append(out, v[4:]...)
	binary.BigEndian.PutUint32(out, crc32.Checksum(out[4:], castagnoli))
	return out
}

// kindNames returns the names of every kind this package knows.
func kindNames() []string {
	kinds := auditevents.Kinds()
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return names
}
