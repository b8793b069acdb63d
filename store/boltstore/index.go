package boltstore

import (
	"crypto/sha256"
	"encoding/binary"
	"hash/crc32"
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

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

// A tagged field is a value that index entries carry as a tag (see
// below): the value of each index, and the whole configuration, version
// included.
type taggedField int

const (
	tagUser          = taggedField(byUser)
	tagConfigName    = taggedField(byConfiguration)
	tagAccount       = taggedField(byAccount)
	tagConfiguration = taggedField(numIndexes) // name and version
	numTagged        = numIndexes + 1
)

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
// The value of an index entry holds the tags of the event's other tagged
// fields, in field order, its own index's left out: the user, the
// configuration name, the account and the whole configuration (the tag of
// "" for an event without one). A query with several filters, or a
// configuration with a version, drops most candidates of its path by
// comparing tags, without reading the event.
//
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

// The last sealed day is kept in the meta bucket: 8 bytes big-endian with
// the sign bit flipped, then a CRC-32C of them.
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
	sum := sha256.Sum256([]byte(v))
	return append([]byte{0}, sum[:hashTag]...)
}

// otherTags returns the value of an entry of index k: the tags of the other
// tagged fields.
func otherTags(k indexKind, tags *[numTagged][]byte) []byte {
	var v []byte
	for f := range taggedField(numTagged) {
		if f != taggedField(k) {
			v = append(v, tags[f]...)
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
