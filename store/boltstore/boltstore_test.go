package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
	"github.com/auditevents/auditevents/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) auditevents.Store { return openTemp(tb, nil) })
}

// openTemp opens a new store in a temporary directory.
func openTemp(tb testing.TB, opts *boltstore.Options) *boltstore.Store {
	tb.Helper()
	s, err := boltstore.Open(filepath.Join(tb.TempDir(), "audit.db"), opts)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}
