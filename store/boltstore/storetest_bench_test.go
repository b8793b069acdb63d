package boltstore_test

import (
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// BenchmarkStore measures the standard workloads of storetest.RunBenchmarks,
// the same that every store of this module and a third party's store run.
func BenchmarkStore(b *testing.B) {
	storetest.RunBenchmarks(b, func(tb testing.TB) auditevents.Store { return openTemp(tb, nil) })
}
