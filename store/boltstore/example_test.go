package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

func Example() {
	dir, err := os.MkdirTemp("", "audit")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := boltstore.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	ctx := context.Background()
	at := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	err = s.Append(ctx,
		auditevents.AuditEvent{
			ID: "01JGQ3M2E8P3G2M6X3V3Q4KX1A", Timestamp: at,
			User: "alice", Action: auditevents.ActionCreated,
			ResourceKind: auditevents.KindConfiguration, ResourceName: "nginx", Configuration: "nginx:1",
		},
		auditevents.AuditEvent{
			ID: "01JGQ3P7Z0Q8W1C5H2N7R9T4KB", Timestamp: at.Add(time.Minute),
			User: "bob", Action: auditevents.ActionModified,
			ResourceKind: auditevents.KindConfiguration, ResourceName: "nginx", Configuration: "nginx:2",
		},
	)
	if err != nil {
		log.Fatal(err)
	}
	for e, err := range s.Query(ctx, auditevents.Query{Configuration: "nginx"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(e.Timestamp.Format(time.RFC3339), e.User, e.Action, e.Configuration)
	}
	// Output:
	// 2025-01-02T15:05:05Z bob Modified nginx:2
	// 2025-01-02T15:04:05Z alice Created nginx:1
}

func ExampleStore_BackupFile() {
	dir, err := os.MkdirTemp("", "audit")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := boltstore.Open(filepath.Join(dir, "audit.db"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	err = s.Append(ctx, auditevents.AuditEvent{
		ID: "01JGQ3M2E8P3G2M6X3V3Q4KX1A", Timestamp: time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
		User: "alice", Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAgent, ResourceName: "agent-7",
	})
	if err != nil {
		log.Fatal(err)
	}

	// A consistent snapshot, taken while the store stays open.
	backup := filepath.Join(dir, "audit-backup.db")
	if err := s.BackupFile(ctx, backup); err != nil {
		log.Fatal(err)
	}

	b, err := boltstore.Open(backup, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	events, err := auditevents.Collect(b.Query(ctx, auditevents.Query{}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(events), events[0].User, events[0].Action, events[0].ResourceName)
	// Output:
	// 1 alice Deleted agent-7
}

func ExampleOpen_locked() {
	dir, err := os.MkdirTemp("", "audit")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.db")

	s, err := boltstore.Open(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// The file is in use: a second Open fails after the timeout.
	_, err = boltstore.Open(path, &boltstore.Options{Timeout: 50 * time.Millisecond})
	fmt.Println(errors.Is(err, boltstore.ErrLocked))
	// Output:
	// true
}
