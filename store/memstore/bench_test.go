package memstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/oklog/ulid/v2"
)

var benchBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// benchEvents makes n events spread evenly over 365 days, 50 users and 500
// configurations.
func benchEvents(n int) []auditevents.AuditEvent {
	events := make([]auditevents.AuditEvent, n)
	step := 365 * 24 * time.Hour / time.Duration(n)
	for i := range events {
		ts := benchBase.Add(time.Duration(i) * step)
		var id ulid.ULID
		_ = id.SetTime(ulid.Timestamp(ts))
		e := id.Entropy()
		e[6], e[7], e[8], e[9] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		_ = id.SetEntropy(e)
		events[i] = auditevents.AuditEvent{
			ID:            id.String(),
			Timestamp:     ts,
			Account:       fmt.Sprintf("account-%d", i%3),
			User:          fmt.Sprintf("user-%02d@example.com", i%50),
			Action:        auditevents.ActionModified,
			ResourceKind:  auditevents.KindConfiguration,
			ResourceName:  fmt.Sprintf("config-%03d", i%500),
			Configuration: fmt.Sprintf("config-%03d:%d", i%500, i%7+1),
			Description:   "Configuration modified",
		}
	}
	return events
}

var (
	bigOnce  sync.Once
	bigStore *memstore.Store
)

// big returns a store of 1,000,000 events, built once per test binary.
func big(b *testing.B) *memstore.Store {
	b.Helper()
	bigOnce.Do(func() {
		bigStore = memstore.New()
		events := benchEvents(1_000_000)
		for i := 0; i < len(events); i += 10_000 {
			if err := bigStore.Append(context.Background(), events[i:i+10_000]...); err != nil {
				b.Fatal(err)
			}
		}
	})
	return bigStore
}

func BenchmarkQuery(b *testing.B) {
	day := benchBase.Add(200 * 24 * time.Hour)
	tests := []struct {
		name string
		q    auditevents.Query
	}{
		{"one day", auditevents.Query{Since: day, Before: day.Add(24 * time.Hour)}},
		{"one user, all time, first 100", auditevents.Query{User: "user-07@example.com", Limit: 100}},
		{"user and configuration, 30 days", auditevents.Query{User: "user-07@example.com", Configuration: "config-007", Since: day, Before: day.Add(30 * 24 * time.Hour)}},
		{"configuration, every version, first 100", auditevents.Query{Configuration: "config-123", Limit: 100}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			s := big(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			var n int
			for range b.N {
				n = 0
				for _, err := range s.Query(ctx, tt.q) {
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
			}
			b.ReportMetric(float64(n), "events/op")
		})
	}
}

func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 1000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			events := benchEvents(b.N * batch)
			s := memstore.New()
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Append(ctx, events[i*batch:(i+1)*batch]...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
