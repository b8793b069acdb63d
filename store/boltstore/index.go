package boltstore

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"math"
	"net/netip"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// indexKind names a secondary index.
type indexKind int

const (
	byUser indexKind = iota
	byConfiguration
	byAccount
	byRequestID // only events with a request ID (format 5)
	byIPAddress // only events with an IP address (format 5)
	numIndexes
	primary indexKind = -1 // the events bucket itself
)

var indexBuckets = [numIndexes][]byte{bucketByUser, bucketByConfiguration, bucketByAccount, bucketByRequestID, bucketByIPAddress}

// A tagged field is a value that index entries carry as a tag (see
// below): the value of each of the first three indexes, and the whole
// configuration, version included.
type taggedField int

const (
	tagUser          = taggedField(byUser)
	tagConfigName    = taggedField(byConfiguration)
	tagAccount       = taggedField(byAccount)
	tagConfiguration = taggedField(3) // name and version
	numTagged        = 4
	noTag            = taggedField(-1)
)

// own returns the tagged field that index k is keyed by, which its
// entries' values leave out, or noTag for the actor indexes, whose values
// carry every tagged field.
func (k indexKind) own() taggedField {
	if k < byRequestID {
		return taggedField(k)
	}
	return noTag
}

// tagged returns the value of field f of e, and whether index f files e
// at all: an event without a configuration is not in the configuration
// index, since no filter can ask for it.
func tagged(f taggedField, e *auditevents.AuditEvent) (string, bool) {
	switch f {
	case tagUser:
		return e.User, true
	case tagConfigName:
		name, _ := auditevents.SplitConfiguration(e.Configuration)
		return name, name != ""
	case tagAccount:
		return e.Account, true
	default:
		return e.Configuration, e.Configuration != ""
	}
}

// Index keys. A secondary index maps an indexed value to the events that
// carry it, in time order. It has two classes of keys:
//
//	hot:    0 | event key (timestamp and ULID, 24 bytes) | value tag
//	sealed: 1 | value tag | event key
//
// Entries of events after the sealed time (kept in the meta bucket) are
// hot: they lie in time order, whatever their value, so the entries that
// one commit writes, which are mostly of its own moment, lie together at
// the end of the hot class and the commit writes a page or two per index
// instead of a page per value. A query for a value reads the hot class
// from its newest entry down and keeps its value's entries: the writer
// keeps the hot class short.
//
// Once the hot class holds more than sealAfter events, the commit that
// notices moves every hot entry to the sealed class, where each value's
// entries lie together in time order, appended to the end of the value's
// range, and records the newest event's time as the sealed time. A query
// reads a value's sealed entries as one range: few pages, however long the
// range. An entry whose time is not after the sealed time (an imported old
// event) goes straight to the sealed class, so every sealed entry is older
// than every hot one.
//
// The value tag is the value's dictionary code as a uvarint (never 0), or,
// for a value the dictionary does not hold, 0 and the first 8 bytes of its
// SHA-256. Either is self-delimiting. A hash may collide; the final check of
// every candidate with Query.Matches drops the stranger.
//
// The value of an index entry holds the tags of the event's other tagged
// fields, in field order, its own index's left out: the user, the
// configuration name, the account and the whole configuration (the tag of
// "" for an event without one). A query with several filters, or a
// configuration with a version, drops most candidates of its path by
// comparing tags, without reading the event. The actor indexes, by request
// ID and by IP address, file only the events that carry their field, and
// their values hold all four tags (see below).
const (
	hashTag     = 8
	classHot    = 0
	classSealed = 1
)

// defaultSealAfter is how many hot events the writer lets accumulate before
// it seals them. Sealing costs about a page per value with hot entries, so
// sealing rarely makes it cheap per event; a query reads the whole hot
// class of its index, so sealing often makes queries cheap.
const defaultSealAfter = 8192

// The sealed time is kept in the meta bucket: the microseconds, as an int64
// with the sign bit flipped, then a CRC-32C of those 8 bytes.
const noneSealed = math.MinInt64

// sealedTime returns the sealed time as tx sees it: the index entries of
// events at or before it are sealed, the others hot.
func sealedTime(tx *bolt.Tx) (int64, error) {
	v := tx.Bucket(bucketMeta).Get(metaSealed)
	if v == nil {
		return noneSealed, nil
	}
	if len(v) != 12 || binary.BigEndian.Uint32(v[8:]) != crc32.Checksum(v[:8], castagnoli) {
		return 0, corruptf("the sealed time is damaged")
	}
	return int64(binary.BigEndian.Uint64(v) ^ (1 << 63)), nil
}

// sealedValue returns the meta value that records us as the sealed time.
func sealedValue(us int64) []byte {
	v := binary.BigEndian.AppendUint64(nil, uint64(us)^(1<<63))
	return binary.BigEndian.AppendUint32(v, crc32.Checksum(v, castagnoli))
}

// tagField is the dictionary field whose codes tag each tagged field.
var tagField = [numTagged]int{tagUser: fieldUser, tagConfigName: fieldConfigName, tagAccount: fieldAccount, tagConfiguration: fieldConfiguration}

// tag returns the tag of value v of field f. The writer passes add to give a
// new value a code while the dictionary has room.
func (c *codec) tag(f taggedField, v string, add bool) []byte {
	var code uint32
	if add {
		code = c.dict.code(tagField[f], v)
	} else {
		code = c.dict.lookup(tagField[f], v)
	}
	if code != 0 {
		return binary.AppendUvarint(nil, uint64(code))
	}
	return hashedTag(v)
}

// hashedTag returns the tag of a value the dictionary does not hold: a 0
// byte and the first 8 bytes of its SHA-256. The request ID index tags
// every value so: request IDs never repeat, and would only fill the
// dictionary.
func hashedTag(v string) []byte {
	sum := sha256.Sum256([]byte(v))
	return append([]byte{0}, sum[:hashTag]...)
}

// indexed returns the tag under which index k files e, given the tags of
// e's tagged fields, and whether k files e at all: the actor indexes file
// only the events that carry their field, the request ID by its hashed
// tag, the IP address by its ipTag.
func indexed(k indexKind, e *auditevents.AuditEvent, tags *[numTagged][]byte) ([]byte, bool) {
	switch k {
	case byRequestID:
		if e.RequestID == "" {
			return nil, false
		}
		return hashedTag(e.RequestID), true
	case byIPAddress:
		a, err := netip.ParseAddr(e.IPAddress)
		if err != nil {
			return nil, false // no address (Validate lets no other through)
		}
		return ipTag(a), true
	}
	_, ok := tagged(taggedField(k), e)
	return tags[k], ok
}

// eventTags returns the tags of e's tagged fields as a reader sees them,
// without adding to the dictionary.
func (c *codec) eventTags(e *auditevents.AuditEvent) *[numTagged][]byte {
	var tags [numTagged][]byte
	for f := range taggedField(numTagged) {
		v, _ := tagged(f, e)
		tags[f] = c.tag(f, v, false)
	}
	return &tags
}

// otherTags returns the value of an entry of index k: the tags of the
// tagged fields other than k's own.
func otherTags(k indexKind, tags *[numTagged][]byte) []byte {
	return appendOtherTags(nil, k, tags)
}

// appendOtherTags appends to dst the value of an entry of index k.
func appendOtherTags(dst []byte, k indexKind, tags *[numTagged][]byte) []byte {
	for f := range taggedField(numTagged) {
		if f != k.own() {
			dst = append(dst, tags[f]...)
		}
	}
	return dst
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

// sealedPrefix returns the prefix of the sealed index keys of tag.
func sealedPrefix(tag []byte) []byte {
	p := make([]byte, 0, 1+len(tag)+keyLen)
	return append(append(p, classSealed), tag...)
}

// The hot classes of all the indexes lie in one bucket, hot, as one entry
// per hot event, keyed by the event's key (since format 8):
//
//	hot bucket: event key (24 bytes) -> flags | user | configuration name | account | configuration | request ID | IP address
//
// The value holds the event's tags: the four tagged fields' always (for an
// event without a configuration, the tags of ""), then its request ID's
// hashed tag and its IP address's tag when it has them. The flags byte says
// which follow, and whether the configuration index files the event:
// hotInConfiguration, hotRequestID, hotIPAddress; any other bit is damage.
// An event's entry in index k, hot, is then its tag there and the value of
// an entry of k (appendOtherTags), as for a sealed entry: hotTags.entry.
//
// A commit's hot entries lie together at the end of the bucket, in time
// order: a page or two for a commit of 64 events, where entries per index
// (format 7: kind | 00 | event key | tag) wrote a page or two per index,
// five ranges and the branch pages above them. The code handles hot keys
// per index, as "00 | event key | tag", whatever the layout: hotCursor
// gives the keys and values of one index's hot class, and indexEntry finds
// an entry by such a key.
//
// A file of an older format is read as it is when it is opened read-only
// without the log (Options.NoLog): a file of format 7 keeps the hot
// classes in the hot bucket under each index's kind byte, and a file
// before format 7 at the start of each index's bucket (hotLayoutOf).
//
// These are the flags of a hot entry's value.
const (
	hotInConfiguration = 1 << iota // the configuration index files the event
	hotRequestID                   // a request ID's tag follows the four tags
	hotIPAddress                   // an IP address's tag follows
	hotFlags           = hotInConfiguration | hotRequestID | hotIPAddress
)

// appendHotValue appends to dst the value of a hot entry: the tags of the
// event's tagged fields, whether the configuration index files it, and
// its tags in the actor indexes, nil for an index that does not file it.
func appendHotValue(dst []byte, tags *[numTagged][]byte, inConfiguration bool, requestID, ipAddress []byte) []byte {
	var flags byte
	if inConfiguration {
		flags |= hotInConfiguration
	}
	if requestID != nil {
		flags |= hotRequestID
	}
	if ipAddress != nil {
		flags |= hotIPAddress
	}
	dst = append(dst, flags)
	for _, t := range tags {
		dst = append(dst, t...)
	}
	return append(append(dst, requestID...), ipAddress...)
}

// hotTags is the value of a hot entry, parsed.
type hotTags struct {
	tag  [numIndexes][]byte // the event's tag in each index; nil: not filed there
	tags [numTagged][]byte  // the tags of its tagged fields
	four []byte             // the four tags, as the value holds them
}

// parseHot parses the value of a hot entry, or reports that it is
// malformed.
func parseHot(v []byte) (h hotTags, ok bool) {
	if len(v) == 0 || v[0]&^hotFlags != 0 {
		return h, false
	}
	flags, rest := v[0], v[1:]
	for f := range h.tags {
		n := tagLen(rest)
		if n == 0 {
			return h, false
		}
		h.tags[f], rest = rest[:n:n], rest[n:]
	}
	h.four = v[1 : len(v)-len(rest) : len(v)-len(rest)]
	h.tag[byUser], h.tag[byAccount] = h.tags[tagUser], h.tags[tagAccount]
	if flags&hotInConfiguration != 0 {
		h.tag[byConfiguration] = h.tags[tagConfigName]
	}
	for _, k := range [...]indexKind{byRequestID, byIPAddress} {
		if flags&(byte(hotRequestID)<<(k-byRequestID)) == 0 {
			continue
		}
		n := actorTagLen(k, rest)
		if n == 0 {
			return h, false
		}
		h.tag[k], rest = rest[:n:n], rest[n:]
	}
	return h, len(rest) == 0
}

// hotTagOf returns the tag in index k of the event whose hot entry has
// value v, nil when k does not file it, reading no more of v than it
// needs; ok false when that much of v is malformed. A reader that passes
// most entries by their tag (hotCursor) spares parsing the rest.
func hotTagOf(k indexKind, v []byte) (tag []byte, ok bool) {
	if len(v) == 0 || v[0]&^hotFlags != 0 {
		return nil, false
	}
	flags, rest := v[0], v[1:]
	skip := int(k) // the tags before k's: the user's, the configuration name's, the account's
	switch k {
	case byConfiguration:
		if flags&hotInConfiguration == 0 {
			return nil, true
		}
	case byRequestID, byIPAddress:
		bit := byte(hotRequestID) << (k - byRequestID)
		if flags&bit == 0 {
			return nil, true
		}
		skip = numTagged
	}
	for range skip {
		n := tagLen(rest)
		if n == 0 {
			return nil, false
		}
		rest = rest[n:]
	}
	if k == byIPAddress && flags&hotRequestID != 0 {
		n := actorTagLen(byRequestID, rest)
		if n == 0 {
			return nil, false
		}
		rest = rest[n:]
	}
	var n int
	if isActor(k) {
		n = actorTagLen(k, rest)
	} else {
		n = tagLen(rest)
	}
	if n == 0 {
		return nil, false
	}
	return rest[:n:n], true
}

// entry returns the tag of the event in index k and the value of its entry
// there, appended to dst, or nils when k does not file it.
func (h *hotTags) entry(k indexKind, dst []byte) (tag, iv []byte) {
	if h.tag[k] == nil {
		return nil, nil
	}
	return h.tag[k], appendOtherTags(dst, k, &h.tags)
}

// A hotLayout is where a file keeps the hot classes of its indexes.
type hotLayout int

const (
	hotByEvent  hotLayout = iota // one entry per event in the hot bucket (format 8)
	hotByIndex                   // the hot bucket, under each index's kind byte (format 7)
	hotInBucket                  // each index's bucket (before format 7)
)

// hotLayoutOf returns the layout of tx's hot classes. A file of an older
// format than the current one is only read that way when it was opened
// read-only without the log (Options.NoLog); otherwise Open upgraded it.
func hotLayoutOf(tx *bolt.Tx) hotLayout {
	switch {
	case tx.Bucket(bucketHot) == nil:
		return hotInBucket
	case bytes.Equal(tx.Bucket(bucketMeta).Get(metaFormat), []byte{0, 0, 0, 7}):
		return hotByIndex
	}
	return hotByEvent
}

// hotCursor reads the hot class of one index, giving its keys as the index
// has them, "00 | event key | tag", and nil keys at the end of the class.
type hotCursor struct {
	c      *bolt.Cursor
	kind   indexKind
	layout hotLayout
	buf    []byte

	// In format 8's layout, where every hot event has an entry, a reader
	// that wants one value (or range) of the index names it here, so that
	// the cursor passes the other events' entries without making their
	// keys; it then gives only the entries of tags that want accepts, and
	// none of events before lo (nil: no bound). Other layouts give every
	// entry of the index: the reader checks what it keeps in any case.
	want func(tag []byte) bool
	lo   []byte
}

func newHotCursor(tx *bolt.Tx, k indexKind) *hotCursor {
	h := &hotCursor{kind: k, layout: hotLayoutOf(tx)}
	if h.layout == hotInBucket {
		h.c = tx.Bucket(indexBuckets[k]).Cursor()
	} else {
		h.c = tx.Bucket(bucketHot).Cursor()
	}
	return h
}

// below positions the cursor on the greatest hot key of the index below
// bound, a key as the index has them ({classSealed}: past every hot key),
// and returns it with its value.
func (h *hotCursor) below(bound []byte) (k, v []byte) {
	switch {
	case h.layout == hotInBucket:
		return h.own(seekBelow(h.c, bound))
	case h.layout == hotByIndex:
		h.buf = append(append(h.buf[:0], byte(h.kind)), bound...)
		return h.own(seekBelow(h.c, h.buf))
	case bound[0] == classSealed:
		return h.own(h.c.Last())
	}
	// The greatest entry of an event before bound's event key: a key
	// "00 | event key | tag" is below "00 | hi" when its event key is.
	return h.own(seekBelow(h.c, bound[1:]))
}

// prev moves the cursor to the next older hot key of the index and
// returns it.
func (h *hotCursor) prev() (k, v []byte) { return h.own(h.c.Prev()) }

// own returns the entry of the index where the cursor stands, (k, v), or
// the next older one: the hot bucket of format 8 holds entries for every
// index, which own turns into the index's. A malformed hot entry gives a
// key that parseIndexKey and parseKey refuse.
func (h *hotCursor) own(k, v []byte) ([]byte, []byte) {
	switch h.layout {
	case hotInBucket:
		if len(k) > 0 && k[0] == classHot {
			return k, v
		}
		return nil, nil
	case hotByIndex:
		if len(k) > 1 && k[0] == byte(h.kind) {
			return k[1:], v
		}
		return nil, nil
	}
	for ; k != nil; k, v = h.c.Prev() {
		if h.lo != nil && bytes.Compare(k, h.lo) < 0 {
			return nil, nil
		}
		tag, ok := hotTagOf(h.kind, v)
		if !ok || len(k) != keyLen {
			return []byte{classHot}, nil
		}
		if tag == nil || (h.want != nil && !h.want(tag)) {
			continue // not in this index, or not wanted
		}
		ht, ok := parseHot(v)
		if !ok {
			return []byte{classHot}, nil
		}
		// A new array for each entry: callers keep the event key.
		n := 1 + keyLen + len(tag)
		b := make([]byte, n, n+int(numTagged)*(1+hashTag))
		b[0] = classHot
		copy(b[1+copy(b[1:], k):], tag)
		_, iv := ht.entry(h.kind, b[n:])
		return b[:n:n], iv
	}
	return nil, nil
}

// indexEntry returns the value of the entry of index kind with key k, a
// hot or sealed key as keyIn gives it, in a file whose hot classes have
// layout (hotLayoutOf, which callers read once for many lookups), and
// whether there is one. The hot entries of format 8 lie in the event's hot
// entry (see above).
func indexEntry(tx *bolt.Tx, layout hotLayout, kind indexKind, k []byte) ([]byte, bool) {
	if len(k) == 0 || k[0] != classHot {
		v := tx.Bucket(indexBuckets[kind]).Get(k)
		return v, v != nil
	}
	switch layout {
	case hotInBucket:
		v := tx.Bucket(indexBuckets[kind]).Get(k)
		return v, v != nil
	case hotByIndex:
		v := tx.Bucket(bucketHot).Get(append([]byte{byte(kind)}, k...))
		return v, v != nil
	}
	tag, ek := parseKey(kind, k)
	if ek == nil {
		return nil, false
	}
	ht, ok := parseHot(tx.Bucket(bucketHot).Get(ek))
	if !ok {
		return nil, false
	}
	got, iv := ht.entry(kind, nil)
	return iv, got != nil && bytes.Equal(got, tag)
}

// hotKey returns the hot index key of the event with key ek under tag.
func hotKey(tag, ek []byte) []byte {
	k := make([]byte, 0, 1+keyLen+len(tag))
	return append(append(append(k, classHot), ek[:keyLen]...), tag...)
}

// indexKey returns the key of the event with key ek under tag, given the
// sealed time.
func indexKey(tag, ek []byte, sealed int64) []byte {
	if keyTime(ek) <= sealed {
		return append(sealedPrefix(tag), ek[:keyLen]...)
	}
	return hotKey(tag, ek)
}

// parseIndexKey returns the tag of index key k and the event key it points
// to, or nils when k is malformed.
func parseIndexKey(k []byte) (tag, ek []byte) {
	switch {
	case len(k) > 1 && k[0] == classSealed:
		n := tagLen(k[1:])
		if n == 0 || len(k) != 1+n+keyLen {
			return nil, nil
		}
		return k[1 : 1+n], k[1+n:]
	case len(k) > 1+keyLen && k[0] == classHot:
		if tagLen(k[1+keyLen:]) != len(k)-1-keyLen {
			return nil, nil
		}
		return k[1+keyLen:], k[1 : 1+keyLen]
	}
	return nil, nil
}

// The actor indexes, by request ID and by IP address, hold only the events
// that carry the field, and their values are never coded. Their hot class
// is that of the other indexes; their sealed class is divided into
// periods, one per seal:
//
//	hot:    0 | event key (24 bytes) | tag
//	sealed: 1 | period (8 bytes) | tag | event key (24 bytes)
//
// A seal moves the hot entries into a new period, named by the new sealed
// time (microseconds with the sign bit flipped, as in event keys), after
// every other: the move appends to the end of the bucket and leaves full
// pages, however random the values (request IDs are), where a move into
// one range per value, as the other indexes do, would split a page per
// entry. An entry whose time is not after the sealed time (an imported old
// event) goes to the oldest period that is not before its time, or, when
// there is none, to the period of the sealed time. So each period holds
// the events after the period before it, up to its own time: reading the
// periods from the newest, and within a period a value's entries, yields
// the events newest first. A query for a value reads the hot class, then
// its range in each period that its date range reaches: one seek per
// period, a few hundred for a million events.
//
// The tag of a request ID is its hashed tag; the tag of an IP address is 4
// and its 4 bytes, or 6 and its 16 bytes, so that the addresses of a
// network lie together in each period: a query for a network reads the
// network's range of each period and sorts the few thousand entries it
// finds there by time.

// isActor reports whether k is one of the actor indexes.
func isActor(k indexKind) bool { return k >= byRequestID }

// ipTag returns the tag of address a in the IP address index.
func ipTag(a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return append([]byte{4}, b[:]...)
	}
	b := a.As16()
	return append([]byte{6}, b[:]...)
}

// ipRange returns the tags of the first and the last address of p.
func ipRange(p netip.Prefix) (lo, hi []byte) {
	lo = ipTag(p.Masked().Addr())
	hi = bytes.Clone(lo)
	for i := p.Bits(); i < p.Addr().BitLen(); i++ {
		hi[1+i/8] |= 0x80 >> (i % 8)
	}
	return lo, hi
}

// actorTagLen returns the length of the tag of actor index k at the start
// of b, or 0 when b does not start with one.
func actorTagLen(k indexKind, b []byte) int {
	n := 0
	switch {
	case len(b) == 0:
	case k == byRequestID && b[0] == 0:
		n = 1 + hashTag
	case k == byIPAddress && b[0] == 4:
		n = 1 + 4
	case k == byIPAddress && b[0] == 6:
		n = 1 + 16
	}
	if n > len(b) {
		return 0
	}
	return n
}

// parseKey returns the tag of key k of index kind and the event key it
// points to, or nils when k is malformed.
func parseKey(kind indexKind, k []byte) (tag, ek []byte) {
	if !isActor(kind) {
		return parseIndexKey(k)
	}
	switch {
	case len(k) > 1+keyLen && k[0] == classHot:
		if actorTagLen(kind, k[1+keyLen:]) != len(k)-1-keyLen {
			return nil, nil
		}
		return k[1+keyLen:], k[1 : 1+keyLen]
	case len(k) > 1+8 && k[0] == classSealed:
		n := actorTagLen(kind, k[1+8:])
		if n == 0 || len(k) != 1+8+n+keyLen {
			return nil, nil
		}
		return k[1+8 : 1+8+n], k[1+8+n:]
	}
	return nil, nil
}

// periodPrefix returns the prefix of the sealed keys of an actor index in
// the period of time t.
func periodPrefix(t int64) []byte {
	p := make([]byte, 1+8, 1+8+1+16+keyLen)
	p[0] = classSealed
	putTime(p[1:], t)
	return p
}

// actorSealedKey returns the sealed key of an actor index's entry in the
// given period.
func actorSealedKey(period int64, tag, ek []byte) []byte {
	return append(append(periodPrefix(period), tag...), ek[:keyLen]...)
}

// periodOf returns the period of actor index b that holds the sealed
// entries of the events at time t: the oldest period not before t, or the
// sealed time when there is none.
func periodOf(b *bolt.Bucket, t, sealed int64) int64 {
	if k, _ := b.Cursor().Seek(periodPrefix(t)); len(k) > 1+8 && k[0] == classSealed {
		return keyTime(k[1:])
	}
	return sealed
}

// keyIn returns the key of the entry of index kind, whose bucket is b, for
// tag and the event key ek, given the sealed time.
func keyIn(b *bolt.Bucket, kind indexKind, tag, ek []byte, sealed int64) []byte {
	if !isActor(kind) || keyTime(ek) > sealed {
		return indexKey(tag, ek, sealed)
	}
	return actorSealedKey(periodOf(b, keyTime(ek), sealed), tag, ek)
}
