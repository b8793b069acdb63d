package memstore_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

func Example() {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()

	at := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	err := store.Append(ctx,
		auditevents.AuditEvent{ID: "01JGFJJZ000000000000000001", Timestamp: at, User: "alice@example.com",
			Action: auditevents.ActionCreated, ResourceKind: auditevents.KindConfiguration, Configuration: "edge:1"},
		auditevents.AuditEvent{ID: "01JGFJJZ000000000000000002", Timestamp: at.Add(time.Minute), User: "bob@example.com",
			Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, Configuration: "edge:2"},
		auditevents.AuditEvent{ID: "01JGFJJZ000000000000000003", Timestamp: at.Add(2 * time.Minute), User: "alice@example.com",
			Action: auditevents.ActionStarted, ResourceKind: auditevents.KindRollout, Configuration: "edge:2"},
	)
	if err != nil {
		log.Fatal(err)
	}

	// Every version of configuration "edge", newest first.
	for e, err := range store.Query(ctx, auditevents.Query{Configuration: "edge"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Timestamp.Format(time.TimeOnly), e.User, e.Action, e.ResourceKind, e.Configuration)
	}
	// An ID already stored is refused, and the error names it.
	err = store.Append(ctx, auditevents.AuditEvent{ID: "01JGFJJZ000000000000000002", Timestamp: at, User: "mallory@example.com",
		Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindConfiguration})
	fmt.Println(err)
	fmt.Println(store.Len(), "events")
	// Output:
	// 15:06:05 alice@example.com Started Rollout edge:2
	// 15:05:05 bob@example.com Modified Configuration edge:2
	// 15:04:05 alice@example.com Created Configuration edge:1
	// auditevents: duplicate event id "01JGFJJZ000000000000000002"
	// 3 events
}
