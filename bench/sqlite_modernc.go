package main

import (
	"net/url"
	"strings"

	_ "modernc.org/sqlite" // registers the driver "sqlite"
)

// sqliteDrivers returns the SQLite drivers of this build: modernc.org/sqlite
// (SQLite translated to Go) always, and mattn/go-sqlite3 (SQLite's C code
// through cgo) when cgo is on.
func sqliteDrivers() []sqliteDriver {
	out := []sqliteDriver{{
		name:  "sqlite",
		label: "sqlite-modernc",
		dsn: func(path, synchronous string) string {
			return "file:" + url.PathEscape(path) + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
				"&_pragma=synchronous(" + synchronous + ")&_txlock=immediate"
		},
		unique: isUniqueViolation,
	}}
	if mattnDriver != nil {
		out = append(out, *mattnDriver)
	}
	return out
}

// isUniqueViolation reports whether err is SQLite's "UNIQUE constraint
// failed", as both drivers word it.
func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
