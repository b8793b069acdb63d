package boltstore

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// oldestUpgradable is the oldest format that Open upgrades in place: format
// 2, the format before the verifiable log. Format 3, before the positions
// bucket, and format 4, before the actor fields, are upgraded too.
const oldestUpgradable = 2

// bucketSince returns the format version that added the bucket: Open of an
// older file that it upgrades does not expect it.
func bucketSince(name []byte) uint32 {
	switch string(name) {
	case string(bucketLog):
		return 3
	case string(bucketPositions):
		return 4
	case string(bucketByRequestID), string(bucketByIPAddress):
		return 5
	}
	return 1
}

// upgradeChunk is how many events the upgrade stages at a time.
const upgradeChunk = 8192

// upgrade turns a file of format 2, 3 or 4 into the current format, in one
// transaction. From format 2 it creates the log bucket and gives the stored
// events their sequences in their stored order (by timestamp, then ID, as
// the events bucket holds them), and builds each account's tree; it
// creates the buckets added after the file's version, empty: the positions
// bucket (position.go) and the actor indexes; then it writes the new
// version. A crash during the upgrade leaves the file as it
// was.
func (s *Store) upgrade(c *codec) error {
	err := guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			// Buckets added since the file's version start empty: no event
			// of an older file has actor fields, so the actor indexes of
			// format 5 have nothing to file, and the events' values stay as
			// they are (a value without the trailing actor section is a
			// value of format 5 too).
			for _, name := range allBuckets {
				if since := bucketSince(name); since > bucketSince(bucketLog) && c.upgrade < since {
					if _, err := tx.CreateBucketIfNotExists(name); err != nil { // a file without the log has the later buckets
						return err
					}
				}
			}
			if c.upgrade >= bucketSince(bucketLog) {
				return tx.Bucket(bucketMeta).Put(metaFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
			}
			if _, err := tx.CreateBucket(bucketLog); err != nil {
				return err
			}
			if err := tx.Bucket(bucketMeta).Delete(metaNoLog); err != nil {
				return err
			}
			var lw logWriter // never reset: the transaction holds what it puts
			staged := make([]logEvent, 0, upgradeChunk)
			events := make([]auditevents.AuditEvent, upgradeChunk)
			cur := tx.Bucket(bucketEvents).Cursor()
			for k, v := cur.First(); k != nil; k, v = cur.Next() {
				e, err := c.decode(k, v)
				if err != nil {
					return err
				}
				events[len(staged)] = e
				staged = append(staged, logEvent{e: &events[len(staged)], key: append([]byte(nil), k...)})
				if len(staged) == upgradeChunk {
					if err := lw.appendLog(tx, staged); err != nil {
						return err
					}
					staged = staged[:0]
				}
			}
			if err := lw.appendLog(tx, staged); err != nil {
				return err
			}
			return tx.Bucket(bucketMeta).Put(metaFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
		})
	})
	if err != nil {
		return err
	}
	c.upgrade, c.noLog = 0, false
	return nil
}
