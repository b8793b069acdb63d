package auditevents_test

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/auditevents/auditevents"
)

// A store's Query method built on QueryChunks: here the store is a slice
// already in result order, and each chunk continues where the last one
// stopped. A real store would take its lock, or open a transaction, inside
// the ChunkFunc, and release it before returning.
func ExampleQueryChunks() {
	at := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	var stored []auditevents.AuditEvent // newest first
	for i := range 5 {
		stored = append(stored, auditevents.AuditEvent{
			ID:        fmt.Sprintf("01JGFJJZ00000000000000000%d", 5-i),
			Timestamp: at.Add(-time.Duration(i) * time.Minute),
			User:      []string{"alice", "bob"}[i%2],
		})
	}
	query := func(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
		return auditevents.QueryChunks(ctx, q, 2, func(q *auditevents.Query) (auditevents.ChunkFunc, func()) {
			next := 0 // the position after the last event looked at
			return func(buf []auditevents.AuditEvent, want int) ([]auditevents.AuditEvent, bool, error) {
				for ; next < len(stored) && len(buf) < want; next++ {
					if q.Matches(&stored[next]) {
						buf = append(buf, stored[next])
					}
				}
				return buf, next == len(stored), nil
			}, nil
		})
	}

	for e, err := range query(context.Background(), auditevents.Query{User: "alice", Limit: 2}) {
		fmt.Println(e.ID, e.Timestamp.Format(time.TimeOnly), e.User, err)
	}
	_, err := auditevents.Collect(query(context.Background(), auditevents.Query{Limit: -1}))
	fmt.Println(err)
	// Output:
	// 01JGFJJZ000000000000000005 15:04:05 alice <nil>
	// 01JGFJJZ000000000000000003 15:02:05 alice <nil>
	// invalid limit "-1": must not be negative
}
