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
