package memstore_test

import (
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/auditevents/auditevents/store/storetest"
)

// BenchmarkStore measures the standard workloads of storetest.RunBenchmarks.
func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(testing.TB) auditevents.Store { return memstore.New() })
}
