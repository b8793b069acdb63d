package boltstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bolt "go.etcd.io/bbolt"
)

// Backup writes a consistent snapshot of the store to w, while the store
// stays in use: appends go on during the copy and are not in it. The
// snapshot is a complete store file: write it to a file and [Open] that.
// It returns the number of bytes written, and stops with ctx's error when
// ctx is cancelled.
//
// The snapshot holds a read transaction for as long as the copy lasts, so
// the file cannot reuse pages freed meanwhile: it may grow while a slow
// writer is copied to.
func (s *Store) Backup(ctx context.Context, w io.Writer) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = tx.WriteTo(&ctxWriter{ctx: ctx, w: w})
		return err
	})
	if ctx.Err() != nil {
		err = ctx.Err() // bbolt does not wrap the writer's error
	}
	if err != nil {
		return n, fmt.Errorf("boltstore: backup: %w", err)
	}
	return n, nil
}

// BackupFile writes a consistent snapshot of the store, as [Store.Backup]
// does, to a new file at path: it writes a temporary file in the same
// directory, syncs it and renames it to path, so path holds either a
// complete backup or what it held before. The file gets mode 0600.
func (s *Store) BackupFile(ctx context.Context, path string) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("boltstore: backup: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := s.Backup(ctx, tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("boltstore: backup: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("boltstore: backup: %w", err)
	}
	return nil
}

// ctxWriter stops writing once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c *ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// Check verifies the whole file: bbolt's consistency check of every page,
// the decoding of every event, and the agreement of the ID and secondary
// indexes with the events. It returns nil when all is well, or an error
// wrapping [ErrCorrupt] that lists what it found. It reads the whole file
// in one read transaction, so it takes time on a large store.
func (s *Store) Check(ctx context.Context) error {
	return s.view(func(tx *bolt.Tx) error {
		if err := verifyPages(s.file, tx, true); err != nil {
			return err
		}
		var problems []error
		for err := range tx.Check() {
			problems = append(problems, err)
		}
		if len(problems) > 0 {
			return corruptf("%w", errors.Join(problems...))
		}
		if err := s.checkIndexes(ctx, tx); err != nil {
			return err
		}
		return nil
	})
}

// checkIndexes checks that every event decodes and is in each index it
// belongs to, and that each index holds nothing else.
func (s *Store) checkIndexes(ctx context.Context, tx *bolt.Tx) error {
	events := tx.Bucket(bucketEvents)
	ids := tx.Bucket(bucketIDs)
	var counts [numIndexes]int
	sealed, err := sealedDay(tx)
	if err != nil {
		return err
	}
	n := 0
	err = events.ForEach(func(k, v []byte) error {
		if n++; n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		e, err := s.codec.decode(k, v)
		if err != nil {
			return err
		}
		if ids.Get(k[8:]) == nil {
			return corruptf("event %s has no entry in the ID index", e.ID)
		}
		for kind := range numIndexes {
			v, ok := tagged(taggedField(kind), &e)
			if !ok {
				continue
			}
			if tx.Bucket(indexBuckets[kind]).Get(indexKey(s.codec.tag(taggedField(kind), v, false), k, sealed)) == nil {
				return corruptf("event %s is missing from index %q", e.ID, indexBuckets[kind])
			}
			counts[kind]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	if got := ids.Stats().KeyN; got != n {
		return corruptf("the ID index has %d entries for %d events", got, n)
	}
	if count, err := eventCount(tx); err != nil {
		return err
	} else if count != int64(n) {
		return corruptf("the event count is %d for %d events", count, n)
	}
	for kind := range numIndexes {
		got := 0
		err := tx.Bucket(indexBuckets[kind]).ForEach(func(k, _ []byte) error {
			_, ek := parseIndexKey(k)
			if ek == nil || events.Get(ek) == nil {
				return corruptf("index %q has entry %x without an event", indexBuckets[kind], k)
			}
			got++
			return nil
		})
		if err != nil {
			return err
		}
		if got != counts[kind] {
			return corruptf("index %q has %d entries for %d indexed events", indexBuckets[kind], got, counts[kind])
		}
	}
	return nil
}
