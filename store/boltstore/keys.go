package boltstore

import (
	"encoding/binary"
	"fmt"

	"github.com/oklog/ulid/v2"

	"github.com/auditevents/auditevents"
)

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
