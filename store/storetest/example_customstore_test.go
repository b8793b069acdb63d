package storetest_test

import (
	"context"
	"fmt"
	"log"
	"sync/atomic"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/auditevents/auditevents/store/storetest"
)

// meteredStore is a custom store: it keeps events in another store and
// counts the events appended through it, as a host billing per event might.
// Its conformance test, in a _test.go file of its package, is three lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(testing.TB) auditevents.Store { return newMeteredStore() })
//	}
//
// and its benchmark, comparable with those of this module's stores:
//
//	func BenchmarkStore(b *testing.B) {
//		storetest.RunBenchmarks(b, func(testing.TB) auditevents.Store { return newMeteredStore() })
//	}
type meteredStore struct {
	auditevents.Store
	appended atomic.Int64
}

func newMeteredStore() *meteredStore { return &meteredStore{Store: memstore.New()} }

// Append stores the batch and counts it once it is stored.
func (s *meteredStore) Append(ctx context.Context, events ...auditevents.AuditEvent) error {
	if err := s.Store.Append(ctx, events...); err != nil {
		return err
	}
	s.appended.Add(int64(len(events)))
	return nil
}

func Example_customStore() {
	ctx := context.Background()
	store := newMeteredStore()
	defer store.Close()

	// Realistic, deterministic events for the store's own tests.
	events := storetest.NewGenerator(1).Events(1000)
	if err := store.Append(ctx, events...); err != nil {
		log.Fatal(err)
	}
	err := store.Append(ctx, events[0]) // a duplicate: refused, not counted
	fmt.Println(err != nil, store.appended.Load(), "events appended")

	newest, err := auditevents.Collect(store.Query(ctx, auditevents.Query{Limit: 1}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(newest[0].Timestamp.Before(storetest.GeneratorEnd))
	// Output:
	// true 1000 events appended
	// true
}
