package storetest_test

import (
	"fmt"

	"github.com/auditevents/auditevents/store/storetest"
)

func ExampleGenerator() {
	g := storetest.NewGenerator(42)
	for _, e := range g.Events(4) {
		fmt.Printf("%s %s %s %s %s %q\n", e.ID, e.Timestamp.Format("2006-01-02 15:04"), e.User, e.Action, e.ResourceKind, e.Configuration)
	}
	// The same seed makes the same events, IDs included.
	again := storetest.NewGenerator(42).Events(4)
	fmt.Println(again[3].ID)
	// Output:
	// 01JJPQV86V92S7NX7QH6PZKKDS 2025-01-28 15:17 bob.moore2@example.com Created Fleet ""
	// 01JKTCFHZ0JC9N9Q10AE3Z7Y6E 2025-02-11 11:32 alice.smith@example.com Created Login ""
	// 01JYEBKTERKZR2K5YSTFJY7RBX 2025-06-23 12:18 carol.davis@example.com Created Login ""
	// 01K7SHBVQ1E2T2A9YN66ZY621P 2025-10-17 16:52 judy.miller@example.com Created Agent ""
	// 01K7SHBVQ1E2T2A9YN66ZY621P
}
