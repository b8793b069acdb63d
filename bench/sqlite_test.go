package main

import (
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// TestSQLiteConformance holds the SQLite baselines to the Store contract, so
// that they are compared with our stores on the same semantics: the same
// filters, bounds, order and paging.
func TestSQLiteConformance(t *testing.T) {
	for _, d := range sqliteDrivers() {
		t.Run(d.label, func(t *testing.T) {
			storetest.Run(t, func(tb testing.TB) auditevents.Store {
				tb.Helper()
				s, err := openSQLite(d, tb.TempDir()+"/events.db", "NORMAL")
				if err != nil {
					tb.Fatal(err)
				}
				return s
			})
		})
	}
}
