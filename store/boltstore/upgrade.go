package boltstore

import (
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// upgradableVersion is the older format that Open upgrades in place: format
// 2, the format before the verifiable log.
const upgradableVersion = 2

// upgradeChunk is how many events the upgrade stages at a time.
const upgradeChunk = 8192

// upgrade turns a file of format 2 into the current format, in one
// transaction: it creates the log bucket and gives the stored events their
// sequences in their stored order (by timestamp, then ID, as the events
// bucket holds them), builds each account's tree, and writes the new
// version. A crash during the upgrade leaves the file as it was.
func (s *Store) upgrade(c *codec) error {
	err := guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucket(bucketLog); err != nil {
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
	c.upgrade = false
	return nil
}
