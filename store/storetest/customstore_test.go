package storetest_test

import (
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// TestCustomStoreConformance runs the suite against the custom store of
// Example_customStore, as its own package would.
func TestCustomStoreConformance(t *testing.T) {
	storetest.Run(t, func(testing.TB) auditevents.Store { return newMeteredStore() })
}
