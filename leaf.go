package auditevents

import (
	"crypto/sha256"
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
)

// The versions of the leaf encoding: the first byte of every encoded leaf.
// A version changes whenever the encoding's bytes do, so a verifier never
// mistakes one encoding for another. [AppendLeaf] writes both: version 1
// for an event without actor context, version 2 for an event with it.
const (
	// LeafVersion is version 1, the encoding of an event without actor
	// context (see [AuditEvent.HasActor]). Events recorded before the actor
	// fields existed are all of this version, and keep their leaves.
	LeafVersion = 1
	// LeafVersionActor is version 2, the encoding of an event with any of
	// the actor fields: version 1's fields, then the actor fields.
	LeafVersionActor = 2
)

// AppendLeaf appends to dst the canonical encoding of event e at sequence seq
// in its account's log, and returns the extended slice. The leaf of the
// account's Merkle tree is the RFC 6962 record hash of these bytes
// ([LeafHash]). Every field of the event and the sequence is encoded, so
// changing any byte of any of them, or moving an event to another sequence,
// changes the leaf.
//
// An event without actor context (no IP address, user agent, request ID or
// metadata entry) is encoded as version 1 is, byte by byte:
//
//	offset  size  content
//	0       1     the version, 0x01
//	1       8     seq, big-endian unsigned
//	9       8     the timestamp, in microseconds since 1970-01-01T00:00:00Z,
//	              big-endian two's complement (negative before 1970)
//	17      ...   eight text fields, in this order: id, account, user, action,
//	              resourceKind, resourceName, configuration, description;
//	              each is its length in bytes as 4 bytes big-endian unsigned,
//	              then its bytes as stored (UTF-8, no terminator)
//
// An event with any actor field set is encoded as version 2: version 1's
// bytes with the version 0x02, followed by the actor fields:
//
//	offset  size  content
//	0       1     the version, 0x02
//	1       ...   version 1's bytes from its offset 1: seq, the timestamp
//	              and the eight text fields
//	then    ...   three text fields, in this order: ipAddress, userAgent,
//	              requestId; each a 4-byte big-endian length and its bytes,
//	              empty ones as a zero length
//	then    4     the number of metadata entries, big-endian unsigned
//	then    ...   each entry in the order of its key's bytes (ascending, as
//	              strings compare in Go): the key as a 4-byte big-endian
//	              length and its bytes, then the value likewise
//
// Events recorded without actor context thus keep the leaves they had
// before version 2 existed: no tree, checkpoint or store needs rehashing.
// The version byte tells a verifier which layout follows, and a version 2
// leaf always carries all four actor fields, so an actor field cannot be
// dropped or moved without changing the leaf.
//
// The text is encoded as given, not normalized: a store hashes events as it
// keeps them ([Normalize]d), and a verifier hashes what the store returns, so
// that a change of case in an ID is a change of the leaf. Sub-microsecond
// digits of the timestamp, which no store keeps, are not encoded. An event
// with its fields empty encodes to 49 bytes; a typical event to about 200
// (version 1) or 300 (version 2, with an address, a user agent and a request
// ID).
//
// The files testdata/leaf-v1.golden and testdata/leaf-v2.golden hold
// encodings that a test checks, so that the encoding cannot change by
// accident.
func AppendLeaf(dst []byte, seq int64, e *AuditEvent) []byte {
	actor := e.HasActor()
	if actor {
		dst = append(dst, LeafVersionActor)
	} else {
		dst = append(dst, LeafVersion)
	}
	dst = binary.BigEndian.AppendUint64(dst, uint64(seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Timestamp.UnixMicro()))
	for _, s := range [...]string{
		e.ID, e.Account, e.User, string(e.Action), string(e.ResourceKind),
		e.ResourceName, e.Configuration, e.Description,
	} {
		dst = appendLeafText(dst, s)
	}
	if !actor {
		return dst
	}
	dst = appendLeafText(dst, e.IPAddress)
	dst = appendLeafText(dst, e.UserAgent)
	dst = appendLeafText(dst, e.RequestID)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(e.Metadata)))
	var keys [MaxMetadataEntries]string
	for _, k := range sortedKeys(keys[:0], e.Metadata) {
		dst = appendLeafText(dst, k)
		dst = appendLeafText(dst, e.Metadata[k])
	}
	return dst
}

// appendLeafText appends s as a leaf's text field: its length as 4 bytes
// big-endian, then its bytes.
func appendLeafText(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// LeafHash returns the leaf of event e at sequence seq: the RFC 6962 record
// hash, SHA-256(0x00 || [AppendLeaf] encoding). It is safe for concurrent
// use.
func LeafHash(seq int64, e *AuditEvent) tlog.Hash {
	var buf [512]byte
	b := AppendLeaf(append(buf[:0], 0x00), seq, e) // RFC 6962's leaf prefix, then the record
	return sha256.Sum256(b)
}
