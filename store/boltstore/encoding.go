package boltstore

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// The file holds these top-level buckets.
var (
	bucketMeta   = []byte("meta")   // format version and code tables
	bucketEvents = []byte("events") // key: event key; value: encoded event
	bucketIDs    = []byte("ids")    // key: 16-byte ULID; value: empty
	// One bucket per secondary index (see indexKey).
	bucketByUser          = []byte("by-user")
	bucketByConfiguration = []byte("by-configuration")
	bucketByAccount       = []byte("by-account")
)

// Keys of the meta bucket.
var (
	metaFormat  = []byte("format")  // 4-byte big-endian format version
	metaKinds   = []byte("kinds")   // kind names, newline-separated; code i+1 is line i
	metaActions = []byte("actions") // action names, likewise
)

// formatVersion is the version of the on-disk format this package writes
// and reads. A file with a greater version is refused.
const formatVersion = 1

// fillPercent is the fill of split pages in every bucket. Events arrive
// mostly in time order, so each bucket grows at its right edge; full pages
// halve the file and the reads of a scan compared with bbolt's default of
// one half.
const fillPercent = 1.0

// indexKind names a secondary index.
type indexKind int

const (
	byUser indexKind = iota
	byConfiguration
	byAccount
	numIndexes
	primary indexKind = -1 // the events bucket itself
)

var indexBuckets = [numIndexes][]byte{bucketByUser, bucketByConfiguration, bucketByAccount}

// indexValue returns the value of e that index k files it under, and
// whether e is filed in k at all: an event without a configuration is not
// in the configuration index, since no filter can ask for it.
func indexValue(k indexKind, e *auditevents.AuditEvent) (string, bool) {
	switch k {
	case byUser:
		return e.User, true
	case byConfiguration:
		name, _ := auditevents.SplitConfiguration(e.Configuration)
		return name, name != ""
	default:
		return e.Account, true
	}
}

// Index keys. A secondary index maps an indexed value to the events that
// carry it, in time order. It has two classes of keys, with empty values:
//
//	hot:    0 | day (4 bytes) | value tag | microseconds into the day (5 bytes) | ULID (16 bytes)
//	sealed: 1 | value tag | event key (timestamp and ULID, 24 bytes)
//
// Entries of days after the last sealed day are hot. Putting the day before
// the value keeps the entries of one transaction, which are mostly of the
// same day, together in the file: a batch of a thousand events with
// hundreds of users or configurations writes a few index pages instead of
// one page per value. A query for a value reads each hot day with one seek.
//
// Once a week of days is over (an event of a later day has been stored),
// the writer moves their entries to the sealed class, where each value's
// entries lie together in time order, appended to the end of the value's
// range, and records the last sealed day in the meta bucket. A query reads
// a value's sealed entries as one range: few pages, however long the range.
// Entries of sealed days that arrive later go straight to the sealed class.
//
// The value of an index entry holds the tags of the event's values in the
// other two indexes, in index order (a configuration tag even for an event
// without one, the tag of ""). A query with several of these filters drops
// most candidates of its path by comparing tags, without reading the event.
//
// The value tag is the value's dictionary code as a uvarint (never 0), or,
// for a value the dictionary does not hold, 0 and the first 8 bytes of its
// SHA-256. Either is self-delimiting. A hash may collide; the final check of
// every candidate with Query.Matches drops the stranger.
const (
	dayMicros   = 24 * 60 * 60 * 1_000_000
	classBytes  = 1
	dayBytes    = 4
	offBytes    = 5
	hashTag     = 8
	classHot    = 0
	classSealed = 1
)

// sealDays is how many finished days the writer lets accumulate before it
// seals them together: sealing appends to the end of each value's range, and
// larger appends leave fuller pages and cost fewer transactions.
const sealDays = 7

// metaSealed holds the last sealed day: 8 bytes big-endian with the sign
// bit flipped, then a CRC-32C of them; absent, no day is sealed.
var metaSealed = []byte("sealed")

const noneSealed = math.MinInt64

// sealedDay returns the last sealed day as tx sees it.
func sealedDay(tx *bolt.Tx) (int64, error) {
	v := tx.Bucket(bucketMeta).Get(metaSealed)
	if v == nil {
		return noneSealed, nil
	}
	if len(v) != 12 || binary.BigEndian.Uint32(v[8:]) != crc32.Checksum(v[:8], castagnoli) {
		return 0, corruptf("the last sealed day is damaged")
	}
	return int64(binary.BigEndian.Uint64(v) ^ (1 << 63)), nil
}

// sealedValue returns the meta value that records d as the last sealed day.
func sealedValue(d int64) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(d)^(1<<63))
	return binary.BigEndian.AppendUint32(v, crc32.Checksum(v, castagnoli))
}

// dayOf returns the day of a timestamp in microseconds, rounding down.
func dayOf(us int64) int64 {
	d := us / dayMicros
	if us%dayMicros < 0 {
		d--
	}
	return d
}

// indexField is the dictionary field whose codes tag index k's values.
var indexField = [numIndexes]int{byUser: fieldUser, byConfiguration: fieldConfigName, byAccount: fieldAccount}

// indexTag returns the tag of value v in index k. The writer passes add to
// give a new value a code while the dictionary has room.
func (c *codec) indexTag(k indexKind, v string, add bool) []byte {
	var code uint32
	if add {
		code = c.dict.code(indexField[k], v)
	} else {
		code = c.dict.lookup(indexField[k], v)
	}
	if code != 0 {
		return binary.AppendUvarint(nil, uint64(code))
	}
	sum := sha256.Sum256([]byte(v))
	return append([]byte{0}, sum[:hashTag]...)
}

// otherTags returns the value of an index entry of index k: the tags of the
// other indexes.
func otherTags(k indexKind, tags *[numIndexes][]byte) []byte {
	var v []byte
	for j := range numIndexes {
		if j != k {
			v = append(v, tags[j]...)
		}
	}
	return v
}

// tagLen returns the length of the tag at the start of b, or 0 when b does
// not start with a whole tag.
func tagLen(b []byte) int {
	if len(b) > 0 && b[0] == 0 {
		if len(b) < 1+hashTag {
			return 0
		}
		return 1 + hashTag
	}
	_, n := binary.Uvarint(b)
	if n <= 0 {
		return 0
	}
	return n
}

// dayPrefix returns the prefix of the hot index keys of tag on day d.
func dayPrefix(d int64, tag []byte) []byte {
	p := make([]byte, classBytes+dayBytes, classBytes+dayBytes+len(tag)+offBytes+16)
	p[0] = classHot
	binary.BigEndian.PutUint32(p[classBytes:], uint32(d)^(1<<31))
	return append(p, tag...)
}

// sealedPrefix returns the prefix of the sealed index keys of tag.
func sealedPrefix(tag []byte) []byte {
	p := make([]byte, 0, classBytes+len(tag)+keyLen)
	return append(append(p, classSealed), tag...)
}

// keyDay returns the day of hot index key k, which must be long enough.
func keyDay(k []byte) int64 {
	return int64(int32(binary.BigEndian.Uint32(k[classBytes:]) ^ (1 << 31)))
}

// indexKey returns the key of the event with key ek under tag, given the
// last sealed day.
func indexKey(tag, ek []byte, sealed int64) []byte {
	us := keyTime(ek)
	d := dayOf(us)
	if d <= sealed {
		return append(sealedPrefix(tag), ek[:keyLen]...)
	}
	k := dayPrefix(d, tag)
	k = appendOff(k, us-d*dayMicros)
	return append(k, ek[8:keyLen]...)
}

func appendOff(b []byte, off int64) []byte {
	return append(b, byte(off>>32), byte(off>>24), byte(off>>16), byte(off>>8), byte(off))
}

// parseIndexKey returns the tag of index key k and the event key it points
// to, or nils when k is malformed.
func parseIndexKey(k []byte) (tag, ek []byte) {
	switch {
	case len(k) > 0 && k[0] == classSealed:
		n := tagLen(k[classBytes:])
		if n == 0 || len(k) != classBytes+n+keyLen {
			return nil, nil
		}
		return k[classBytes : classBytes+n], k[classBytes+n:]
	case len(k) > classBytes+dayBytes && k[0] == classHot:
		n := tagLen(k[classBytes+dayBytes:])
		prefix := classBytes + dayBytes + n
		if n == 0 || len(k) != prefix+offBytes+16 {
			return nil, nil
		}
		o := k[prefix:]
		off := int64(o[0])<<32 | int64(o[1])<<24 | int64(o[2])<<16 | int64(o[3])<<8 | int64(o[4])
		if off >= dayMicros {
			return nil, nil
		}
		ek := make([]byte, keyLen)
		putTime(ek, keyDay(k)*dayMicros+off)
		copy(ek[8:], k[prefix+offBytes:])
		return k[classBytes+dayBytes : prefix], ek
	}
	return nil, nil
}

// keyLen is the length of an event key: 8 bytes of timestamp, then the 16
// bytes of the ULID.
const keyLen = 8 + 16

// putTime writes t's microseconds since the Unix epoch with the sign bit
// flipped, big-endian, so that keys sort as times do, before 1970 too.
func putTime(dst []byte, micros int64) {
	binary.BigEndian.PutUint64(dst, uint64(micros)^(1<<63))
}

// keyTime returns the timestamp at the start of an event key.
func keyTime(key []byte) int64 {
	return int64(binary.BigEndian.Uint64(key) ^ (1 << 63))
}

// eventKey returns the key of the normalized event e. Its ID must be valid.
func eventKey(e *auditevents.AuditEvent) ([keyLen]byte, error) {
	var k [keyLen]byte
	id, err := ulid.ParseStrict(e.ID)
	if err != nil {
		return k, fmt.Errorf("boltstore: event id %q: %w", e.ID, err)
	}
	putTime(k[:8], e.Timestamp.UnixMicro())
	copy(k[8:], id[:])
	return k, nil
}

// timeBound returns the smallest key of the events at micros, which is the
// exclusive upper bound of the events before micros.
func timeBound(micros int64) []byte {
	k := make([]byte, keyLen)
	putTime(k, micros)
	return k
}

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
}

// The value of an event is, in order: a CRC-32C of the rest; the kind's
// code; the action's code, or 0 when the action is not in the table; the
// account, the user, the action when its code is 0, the resource name, the
// configuration and the description. The action and the description are
// written as a uvarint length and the bytes; the other strings as their
// dictionary code, or 0 followed by the length and the bytes. The timestamp
// and the ID are in the key.

// appendValue appends the encoding of e to dst. It fails only when e's kind
// is not in the table, which Open prevents for every kind this package
// knows.
func (c *codec) appendValue(dst []byte, e *auditevents.AuditEvent) ([]byte, error) {
	kind, ok := c.kinds.codes[string(e.ResourceKind)]
	if !ok {
		return dst, fmt.Errorf("boltstore: resource kind %q has no code in this file", e.ResourceKind)
	}
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
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
	binary.BigEndian.PutUint32(dst[start:], crc32.Checksum(dst[start+4:], castagnoli))
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
	var e auditevents.AuditEvent
	if len(key) != keyLen {
		return e, corruptf("event key %x has %d bytes, want %d", key, len(key), keyLen)
	}
	if len(v) < 4 || binary.BigEndian.Uint32(v) != crc32.Checksum(v[4:], castagnoli) {
		return e, corruptf("event %x: checksum mismatch", key)
	}
	s := string(v[4:]) // one copy, sliced into fields below
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

// kindNames returns the names of every kind this package knows.
func kindNames() []string {
	kinds := auditevents.Kinds()
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = string(k)
	}
	return names
}
