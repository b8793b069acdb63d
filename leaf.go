package auditevents

import (
	"crypto/sha256"
	"encoding/binary"

	"golang.org/x/mod/sumdb/tlog"
)

// LeafVersion is the version of the leaf encoding that [AppendLeaf] writes:
// the first byte of every encoded leaf. It changes whenever the encoding's
// bytes do, so a verifier never mistakes one encoding for another.
const LeafVersion = 1

// AppendLeaf appends to dst the canonical encoding of event e at sequence seq
// in its account's log, and returns the extended slice. The leaf of the
// account's Merkle tree is the RFC 6962 record hash of these bytes
// ([LeafHash]). Every field of the event and the sequence is encoded, so
// changing any byte of any of them, or moving an event to another sequence,
// changes the leaf.
//
// The encoding, version 1, is, byte by byte:
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
// The text is encoded as given, not normalized: a store hashes events as it
// keeps them ([Normalize]d), and a verifier hashes what the store returns, so
// that a change of case in an ID is a change of the leaf. Sub-microsecond
// digits of the timestamp, which no store keeps, are not encoded. An event
// with its fields empty encodes to 49 bytes; a typical event to about 200.
//
// The file testdata/leaf-v1.golden holds encodings that a test checks, so
// that the encoding cannot change by accident.
func AppendLeaf(dst []byte, seq int64, e *AuditEvent) []byte {
	dst = append(dst, LeafVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(seq))
	dst = binary.BigEndian.AppendUint64(dst, uint64(e.Timestamp.UnixMicro()))
	for _, s := range [...]string{
		e.ID, e.Account, e.User, string(e.Action), string(e.ResourceKind),
		e.ResourceName, e.Configuration, e.Description,
	} {
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
		dst = append(dst, s...)
	}
	return dst
}

// LeafHash returns the leaf of event e at sequence seq: the RFC 6962 record
// hash, SHA-256(0x00 || [AppendLeaf] encoding). It is safe for concurrent
// use.
func LeafHash(seq int64, e *AuditEvent) tlog.Hash {
	var buf [512]byte
	b := AppendLeaf(append(buf[:0], 0x00), seq, e) // RFC 6962's leaf prefix, then the record
	return sha256.Sum256(b)
}
