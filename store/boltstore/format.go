package boltstore

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"
)

// The layout of the file is described in FORMAT.md, which this file and
// keys.go, index.go, value.go and dict.go follow. Change them together, and
// bump formatVersion with every change of the bytes written.

// formatVersion is the version of the file format this package writes and
// reads. A file of another version is refused: ErrNewerFormat for a newer
// one, ErrOlderFormat for an older one.
const formatVersion = 8

// The file holds these top-level buckets.
var (
	bucketMeta   = []byte("meta")   // the format version, the code tables, counters
	bucketEvents = []byte("events") // event key -> encoded event (keys.go, value.go)
	bucketIDs    = []byte("ids")    // 16-byte ULID -> timestamp of its key (ledger.go)
	bucketDict   = []byte("dict")   // 4-byte code -> dictionary entry (dict.go)
	// One bucket per secondary index (index.go).
	bucketByUser          = []byte("by-user")
	bucketByConfiguration = []byte("by-configuration")
	bucketByAccount       = []byte("by-account")
	bucketByRequestID     = []byte("by-request-id") // since format 5
	bucketByIPAddress     = []byte("by-ip-address") // since format 5
	// The hot class of every index: one entry per hot event (index.go).
	bucketHot = []byte("hot") // since format 7; one entry per event since format 8
)

// allBuckets lists the buckets of a store file, in the order Open creates
// them.
var allBuckets = [][]byte{bucketEvents, bucketIDs, bucketDict, bucketByUser, bucketByConfiguration, bucketByAccount, bucketLog, bucketPositions, bucketByRequestID, bucketByIPAddress, bucketHot}

// Keys of the meta bucket.
var (
	metaFormat  = []byte("format")  // 4-byte big-endian format version
	metaKinds   = []byte("kinds")   // the kind code table (value.go)
	metaActions = []byte("actions") // the action code table (value.go)
	metaSealed  = []byte("sealed")  // the last sealed day (index.go); absent: none
	metaCount   = []byte("count")   // 8-byte big-endian number of events; absent: 0
	metaNoLog   = []byte("nolog")   // present (empty): the file has no log (Options.NoLog); since format 5
)

// fillPercent is the fill of split pages in every bucket. Events arrive
// mostly in time order, so each bucket grows at its right edge; full pages
// halve the file and the reads of a scan compared with bbolt's default of
// one half.
const fillPercent = 1.0

// eventCount returns the number of events as tx sees it.
func eventCount(tx *bolt.Tx) (int64, error) {
	v := tx.Bucket(bucketMeta).Get(metaCount)
	switch {
	case v == nil:
		return 0, nil
	case len(v) != 8 || int64(binary.BigEndian.Uint64(v)) < 0:
		return 0, corruptf("the event count is damaged")
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// addEvents adds delta to the event count.
func addEvents(tx *bolt.Tx, delta int) error {
	n, err := eventCount(tx)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketMeta).Put(metaCount, binary.BigEndian.AppendUint64(nil, uint64(n+int64(delta))))
}
