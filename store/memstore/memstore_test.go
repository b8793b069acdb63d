package memstore_test

import (
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/auditevents/auditevents/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(testing.TB) auditevents.Store { return memstore.New() })
}
