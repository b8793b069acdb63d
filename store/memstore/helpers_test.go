package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

// appendN appends n valid events to the account.
func appendN(tb testing.TB, s *memstore.Store, account string, n int) {
	tb.Helper()
	for i := range n {
		e := auditevents.AuditEvent{
			ID:        fmt.Sprintf("01JGKRQ3M8V63QXKKD6T5A%04d", i),
			Timestamp: time.Date(2025, 1, 2, 15, 4, i, 0, time.UTC),
			Account:   account, User: "alice", Action: auditevents.ActionCreated,
			ResourceKind: auditevents.KindConfiguration,
		}
		if account != "" {
			e.ID = fmt.Sprintf("01JGKRQ3M8V63QXKKD6T5B%04d", i)
		}
		if err := s.Append(context.Background(), e); err != nil {
			tb.Fatal(err)
		}
	}
}
