package pgstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/pgstore"
	"github.com/jackc/pgx/v5/pgxpool"
)

// These examples need a PostgreSQL server, so they have no "Output:" line:
// go test compiles them but does not run them. The package's tests run the
// same calls against a real server.

// Open connects with a connection string, appends a batch and queries it.
func ExampleOpen() {
	ctx := context.Background()
	store, err := pgstore.Open(ctx, os.Getenv("AUDITEVENTS_PG_DSN"), &pgstore.Options{
		Schema:           "auditevents",
		StatementTimeout: 5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	err = store.Append(ctx, auditevents.AuditEvent{
		ID:            "01JP9V4Z5Q8X3M6T0V2N7K4R1C",
		Timestamp:     time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC),
		User:          "alice@example.com",
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "nginx",
		Configuration: "nginx:3",
	})
	if err != nil {
		log.Fatal(err)
	}
	for e, err := range store.Query(ctx, auditevents.Query{Configuration: "nginx", Limit: 10}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Timestamp.Format(auditevents.TimestampLayout), e.User, e.Action, e.Configuration)
	}
}

// New uses the host's own pool, which stays open after the store's Close.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("AUDITEVENTS_PG_DSN"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.New(ctx, pool, &pgstore.Options{Table: "audit_trail"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Keep 90 days of events.
	deleted, err := store.Prune(ctx, time.Now().AddDate(0, 0, -90))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("pruned", deleted, "events")
}
