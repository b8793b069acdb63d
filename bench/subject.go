package main

import (
	"os"
	"path/filepath"

	"github.com/auditevents/auditevents"
)

// Subject is one store under measurement. Every workload goes through the
// [auditevents.Store] methods: Append with one event (single appends) or a
// thousand (batched ingest), and Query (queries, and the CSV export, which
// writes a query of every event with [auditevents.WriteCSV]). So a baseline
// is held to the same contract as the stores it is compared with, and the
// HTTP handler can serve it too.
type Subject interface {
	auditevents.Store
	// Files returns the files that hold the store's data, to measure their
	// size and to drop them from the page cache; nil when the data is
	// not in local files.
	Files() []string
}

// Adapter opens one kind of store for the benchmark. Adding a store to the
// benchmark is one file that returns an Adapter, and one line in adapters.
type Adapter struct {
	// Name is the store's name in the tables, such as "boltstore".
	Name string
	// Baseline marks the SQLite configurations that our stores are
	// compared with.
	Baseline bool
	// Durable says whether an Append that returned is on disk (fsynced),
	// so that single appends compare like with like.
	Durable bool
	// WritesOnly skips the read workloads, for a configuration that differs
	// from another only in how it writes (SQLite with synchronous=NORMAL).
	WritesOnly bool
	// Note is printed under the setup table.
	Note string
	// Open opens the store kept in dir, creating it when dir is empty.
	// Opening the same dir again reopens the same data.
	Open func(dir string) (Subject, error)
	// Persistent says whether reopening dir gives back the data; when false,
	// the store is opened once and cold reads do not apply.
	Persistent bool
	// LogOf names the store this one is, without its verifiable log: its
	// batched ingest, interleaved with that store's in the same run, is
	// the baseline of what the log costs.
	LogOf string
	// Used returns the bytes in use of the store's files in dir, with the
	// store closed, when the files' size would round them up (bbolt grows
	// its file in steps of 16 MiB); nil means the files' size.
	Used func(dir string) (int64, error)
}

// adapters returns every store this build can measure.
func adapters() []Adapter {
	var out []Adapter
	out = append(out, memstoreAdapter(), boltstoreAdapter(), boltstoreNoLogAdapter())
	out = append(out, pgstoreAdapter()...)
	out = append(out, sqliteAdapters()...)
	return out
}

// filesIn returns the regular files under dir.
func filesIn(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			out = append(out, path)
		}
		return nil
	})
	return out
}
