//go:build cgo

package main

import (
	"net/url"

	_ "github.com/mattn/go-sqlite3" // registers the driver "sqlite3"
)

// mattnDriver is mattn/go-sqlite3, SQLite's own C code through cgo.
var mattnDriver = &sqliteDriver{
	name:  "sqlite3",
	label: "sqlite-mattn",
	dsn: func(path, synchronous string) string {
		return "file:" + url.PathEscape(path) + "?_busy_timeout=10000&_journal_mode=WAL" +
			"&_synchronous=" + synchronous + "&_txlock=immediate"
	},
	unique: isUniqueViolation,
}

// cgoNote says which SQLite drivers this build has.
const cgoNote = "SQLite drivers: modernc.org/sqlite (pure Go) and mattn/go-sqlite3 (cgo)"
