package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// The positions of the store's consumers (a forwarder's routes) live in a
// bucket of their own (FORMAT.md, "positions"): the key is the consumer, a
// 0 byte (neither a consumer nor an account holds one) and the account; the
// value the position, a uint64 after its CRC-32C.
var bucketPositions = []byte("positions")

var _ auditevents.Positions = (*Store)(nil)

// positionKey returns the key of a consumer's position for an account.
func positionKey(consumer, account string) []byte {
	k := make([]byte, 0, len(consumer)+1+len(account))
	k = append(k, consumer...)
	k = append(k, 0)
	return append(k, account...)
}

// readPosition decodes a value of the positions bucket.
func readPosition(k, v []byte) (int64, error) {
	what := "the position of " + describePositionKey(k)
	c, err := openValue(v, what)
	if err != nil {
		return 0, err
	}
	if len(c) != 8 || int64(binary.BigEndian.Uint64(c)) < 0 {
		return 0, corruptf("%s is malformed", what)
	}
	return int64(binary.BigEndian.Uint64(c)), nil
}

// describePositionKey names the consumer and account of a key of the
// positions bucket, for errors.
func describePositionKey(k []byte) string {
	consumer, account, ok := bytes.Cut(k, []byte{0})
	if !ok {
		return "a key without a separator, " + quoteAccount(string(k))
	}
	return "consumer " + quoteAccount(string(consumer)) + " in account " + quoteAccount(string(account))
}

// Position returns the consumer's position for the account, as
// [auditevents.Positions] describes: 0 when it stored none.
func (s *Store) Position(ctx context.Context, consumer, account string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.noLog {
		return 0, ErrNoLog
	}
	var pos int64
	err := s.view(func(tx *bolt.Tx) error {
		k := positionKey(consumer, account)
		v := tx.Bucket(bucketPositions).Get(k)
		if v == nil {
			return nil
		}
		var err error
		pos, err = readPosition(k, v)
		return err
	})
	return pos, err
}

// SetPosition stores the consumer's position for the account, as
// [auditevents.Positions] describes. It commits a small transaction of its
// own, synced to the disk as an Append's commit is (see Options.NoSync), so
// the position is durable when SetPosition returns. A store opened
// ReadOnly returns [ErrReadOnly].
func (s *Store) SetPosition(ctx context.Context, consumer, account string, position int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.noLog {
		return ErrNoLog
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return auditevents.ErrClosed
	}
	if s.readOnly {
		return ErrReadOnly
	}
	return guard(func() error {
		return s.update(func(tx *bolt.Tx) error {
			size, err := treeSize(tx.Bucket(bucketLog), account)
			if err != nil {
				return err
			}
			if err := auditevents.CheckPosition(consumer, position, size); err != nil {
				return err
			}
			b := tx.Bucket(bucketPositions)
			b.FillPercent = fillPercent
			return b.Put(positionKey(consumer, account), sealValue(binary.BigEndian.AppendUint64(nil, uint64(position))))
		})
	})
}

// checkPositions checks, for Check, that every position decodes and lies
// within its account's tree.
func checkPositions(tx *bolt.Tx) error {
	log := tx.Bucket(bucketLog)
	if tx.Bucket(bucketPositions) == nil {
		return nil // a file of format 2, kept without the log (Options.NoLog)
	}
	return tx.Bucket(bucketPositions).ForEach(func(k, v []byte) error {
		pos, err := readPosition(k, v)
		if err != nil {
			return err
		}
		consumer, account, ok := bytes.Cut(k, []byte{0})
		if !ok || len(consumer) == 0 {
			return corruptf("the positions bucket holds %s", describePositionKey(k))
		}
		size, err := treeSize(log, string(account))
		if err != nil {
			return err
		}
		if pos > size {
			return corruptf("the position %d of %s is beyond the tree size %d", pos, describePositionKey(k), size)
		}
		return nil
	})
}
