package auditevents_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// A Recorder fills in the ID and the timestamp. Tests fix the clock and the
// entropy to get the same IDs every run.
func ExampleRecorder_Record() {
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC) },
		Entropy: rand.NewChaCha8([32]byte{}),
	})
	ctx := context.Background()
	err := rec.Record(ctx, auditevents.AuditEvent{
		User:          "alice@example.com",
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "nginx",
		Configuration: "nginx:4",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for e, err := range store.Query(ctx, auditevents.Query{}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.ID, e.Timestamp.Format(auditevents.TimestampLayout), e.User, e.Action, e.Configuration)
	}
	// Output:
	// 01JGKRQ3M8V63QXKKD6T5AR6KF 2025-01-02T15:04:05.000000Z alice@example.com Modified nginx:4
}

// An invalid event is rejected with an error that names the field.
func ExampleAuditEvent_Validate() {
	e := auditevents.AuditEvent{
		ID:           "01JGFJJZ000000000000000000",
		Timestamp:    time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
		Action:       auditevents.ActionDeleted,
		ResourceKind: auditevents.KindConfiguration,
	}
	fmt.Println(e.Validate())
	// Output:
	// auditevents: invalid event 0: user "": must not be empty
}

// ParseQuery reads the API's parameters, including the date format that
// Bindplane's own collector sends. max-date includes the whole unit it
// writes.
func ExampleParseQuery() {
	values, _ := url.ParseQuery("user=alice&configuration-name=nginx&min-date=2025-01-02+15%3A04%3A05.000001%2B00&max-date=20250102160000")
	q, err := auditevents.ParseQuery(values)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.User, q.Configuration)
	fmt.Println("since ", q.Since.Format(time.RFC3339Nano))
	fmt.Println("before", q.Before.Format(time.RFC3339Nano))

	_, err = auditevents.ParseQuery(url.Values{"min-date": {"2025-02-30"}})
	fmt.Println(err)
	// Output:
	// alice nginx
	// since  2025-01-02T15:04:05.000001Z
	// before 2025-01-02T16:00:01Z
	// invalid min-date "2025-02-30": expected YYYYMMDDHHMMSS (UTC), RFC 3339 such as 2025-01-02T15:04:05Z or 2025-01-02T15:04:05.123456+02:00, or 2025-01-02 15:04:05.000000-07
}

// Query streams matching events newest first; a limit and the cursor of the
// last event page through them.
func ExampleStore_query() {
	store := memstore.New()
	defer store.Close()
	ctx := context.Background()
	base := time.Date(2025, 1, 2, 15, 0, 0, 0, time.UTC)
	for i, cfg := range []string{"nginx:1", "redis:1", "nginx:2", "nginx:3"} {
		err := store.Append(ctx, auditevents.AuditEvent{
			ID:            fmt.Sprintf("01JGFJJZ00000000000000000%d", i),
			Timestamp:     base.Add(time.Duration(i) * time.Minute),
			User:          "alice@example.com",
			Action:        auditevents.ActionModified,
			ResourceKind:  auditevents.KindConfiguration,
			Configuration: cfg,
		})
		if err != nil {
			fmt.Println(err)
			return
		}
	}
	q := auditevents.Query{Configuration: "nginx", Limit: 2}
	for page := 1; ; page++ {
		events, err := auditevents.Collect(store.Query(ctx, q))
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, e := range events {
			fmt.Println("page", page, e.Timestamp.Format(time.TimeOnly), e.Configuration)
		}
		if len(events) < q.Limit {
			break
		}
		q.After = events[len(events)-1].Cursor()
	}
	// Output:
	// page 1 15:03:00 nginx:3
	// page 1 15:02:00 nginx:2
	// page 2 15:00:00 nginx:1
}

// WriteCSV streams a query's result as CSV. A cell that a spreadsheet would
// run as a formula is neutralised with a leading quote.
func ExampleWriteCSV() {
	store := memstore.New()
	defer store.Close()
	ctx := context.Background()
	err := store.Append(ctx, auditevents.AuditEvent{
		ID:           "01JGFJJZ000000000000000000",
		Timestamp:    time.Date(2025, 1, 2, 15, 4, 5, 123456000, time.UTC),
		User:         "mallory",
		Action:       auditevents.ActionCreated,
		ResourceKind: auditevents.KindAPIKey,
		ResourceName: "=HYPERLINK(\"https://example.com\")",
		Description:  "API key created, with a comma",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	var out strings.Builder
	if _, err := auditevents.WriteCSV(&out, store.Query(ctx, auditevents.Query{}), nil); err != nil {
		fmt.Println(err)
	}
	// Rows end with CRLF, as RFC 4180 says; shown here with LF.
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n"))
	// Output:
	// id,timestamp,account,user,action,resourceKind,resourceName,configuration,description
	// 01JGFJJZ000000000000000000,2025-01-02T15:04:05.123456Z,,mallory,Created,APIKey,"'=HYPERLINK(""https://example.com"")",,"API key created, with a comma"
}

func ExampleParseKind() {
	k, err := auditevents.ParseKind("Rollout")
	fmt.Println(k, err)
	_, err = auditevents.ParseKind("rollout")
	fmt.Println(err)
	// Output:
	// Rollout <nil>
	// auditevents: unknown resource kind "rollout"
}

// A host signs checkpoints of an account's log; an auditor who has only the
// verifier key checks the log against one.
func ExampleVerify() {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC) },
		Entropy: rand.NewChaCha8([32]byte{}),
	})
	for _, name := range []string{"frontend", "backend", "frontend"} {
		err := rec.Record(ctx, auditevents.AuditEvent{Account: "acme", User: "alice@example.com",
			Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, ResourceName: name})
		if err != nil {
			fmt.Println(err)
			return
		}
	}

	// The host: a key pair (keep the signer key secret), and a checkpoint.
	skey, vkey, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		fmt.Println(err)
		return
	}
	signer, _ := note.NewSigner(skey)
	signed, cp, err := auditevents.MakeCheckpoint(ctx, store, "example.com/audit", "acme", signer)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cp.Origin, cp.Size)

	// The auditor: the verifier key, the checkpoint and the log.
	verifier, _ := note.NewVerifier(vkey)
	report, err := auditevents.Verify(ctx, auditevents.AccountLog(store, "acme"), auditevents.VerifyOptions{
		Verifier:   verifier,
		Origin:     auditevents.Origin("example.com/audit", "acme"),
		Checkpoint: signed,
	})
	fmt.Println(report.Events, "events verified:", err)
	// Output:
	// example.com/audit/acme 3
	// 3 events verified: <nil>
}

// A checkpoint's text is the C2SP tlog-checkpoint body: the origin, the tree
// size and the root hash in base64.
func ExampleCheckpoint_Text() {
	c := auditevents.Checkpoint{Origin: "example.com/audit/acme", Size: 3, Hash: tlog.RecordHash([]byte("root"))}
	text, err := c.Text()
	fmt.Print(text, err, "\n")
	// Output:
	// example.com/audit/acme
	// 3
	// PAb5plclr2BSYfY2ZyyWINQJcx2JpFHXRV/pxK4WeCk=
	// <nil>
}
