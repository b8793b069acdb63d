//go:build !cgo

package main

// mattnDriver is nil without cgo: mattn/go-sqlite3 needs a C compiler.
var mattnDriver *sqliteDriver

// cgoNote says which SQLite drivers this build has.
const cgoNote = "SQLite drivers: modernc.org/sqlite (pure Go) only; mattn/go-sqlite3 needs cgo (build with CGO_ENABLED=1 and a C compiler)"
