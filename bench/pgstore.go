package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/auditevents/auditevents/store/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgSchema is the schema the benchmark's events go in; a new store drops it
// first.
const pgSchema = "auditevents_bench"

type pgSubject struct {
	*pgstore.Store
	pool *pgxpool.Pool
}

func (pgSubject) Files() []string { return nil }

// Close closes the store and then the pool, which pgstore leaves open.
func (s pgSubject) Close() error {
	err := s.Store.Close()
	s.pool.Close()
	return err
}

// Size returns the bytes of the table with its indexes and TOAST.
func (s pgSubject) Size(ctx context.Context) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT pg_total_relation_size('"+pgSchema+".audit_events')").Scan(&n)
	return n, err
}

// pgstoreAdapter returns the PostgreSQL store on the server that
// AUDITEVENTS_PG_DSN names, or nothing when it is not set.
func pgstoreAdapter() []Adapter {
	dsn := os.Getenv("AUDITEVENTS_PG_DSN")
	if dsn == "" {
		return nil
	}
	ad := Adapter{
		Name:       "pgstore",
		Persistent: true,
		Open: func(dir string) (Subject, error) {
			ctx := context.Background()
			pool, err := pgxpool.New(ctx, dsn)
			if err != nil {
				return nil, fmt.Errorf("connecting to AUDITEVENTS_PG_DSN: %w", err)
			}
			// A marker in dir tells a reopen from a new store, whose
			// schema is dropped first.
			marker := filepath.Join(dir, "pgstore-schema")
			if _, err := os.Stat(marker); errors.Is(err, os.ErrNotExist) {
				if _, err := pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgSchema+" CASCADE"); err != nil {
					pool.Close()
					return nil, fmt.Errorf("dropping the schema %s: %w", pgSchema, err)
				}
				if err := os.WriteFile(marker, []byte(pgSchema+"\n"), 0o644); err != nil {
					pool.Close()
					return nil, err
				}
			}
			s, err := pgstore.New(ctx, pool, &pgstore.Options{Schema: pgSchema})
			if err != nil {
				pool.Close()
				return nil, err
			}
			return pgSubject{s, pool}, nil
		},
	}
	// Appends are durable only as the server is configured.
	ad.Note = "PostgreSQL at AUDITEVENTS_PG_DSN over its connection; cold reads not measured (the server's files and shared buffers are not this process's)"
	if pool, err := pgxpool.New(context.Background(), dsn); err == nil {
		var fsync, syncCommit string
		if err := pool.QueryRow(context.Background(), "SELECT current_setting('fsync'), current_setting('synchronous_commit')").Scan(&fsync, &syncCommit); err == nil {
			ad.Durable = fsync == "on" && syncCommit != "off"
			ad.Note += fmt.Sprintf("; server fsync=%s, synchronous_commit=%s", fsync, syncCommit)
		}
		pool.Close()
	}
	return []Adapter{ad}
}
