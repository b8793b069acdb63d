package auditevents_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

// RecordWithActor fills the actor fields of the events from the request's
// context: httpapi's middleware puts an Actor there, and a host can put its
// own, as here. What the event sets itself wins.
func ExampleRecorder_RecordWithActor() {
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC) },
		Entropy: rand.NewChaCha8([32]byte{}),
	})
	// In an HTTP handler, ctx is r.Context().
	ctx := auditevents.ContextWithActor(context.Background(), auditevents.Actor{
		IPAddress: "::ffff:192.0.2.7", // stored as IPv4
		UserAgent: "bindplane-cli/1.84.0",
		RequestID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Metadata:  map[string]string{"session": "s-42"},
	})
	err := rec.RecordWithActor(ctx, auditevents.AuditEvent{
		User:          "alice@example.com",
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "nginx",
		Configuration: "nginx:4",
		Metadata:      map[string]string{"region": "eu-west-1"},
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
		fmt.Printf("%s\n", e.AppendJSON(nil))
	}
	// Output:
	// {"id":"01JGKRQ3M8V63QXKKD6T5AR6KF","timestamp":"2025-01-02T15:04:05.000000Z","account":"","user":"alice@example.com","action":"Modified","resourceKind":"Configuration","resourceName":"nginx","configuration":"nginx:4","description":"","ipAddress":"192.0.2.7","userAgent":"bindplane-cli/1.84.0","requestId":"4bf92f3577b34da6a3ce929d0e0e4736","metadata":{"region":"eu-west-1","session":"s-42"}}
}

// audienceKey is the context key under which this example's host says who
// a response is for.
type audienceKey struct{}

// A Redactor masks the IP addresses of events for one audience, the
// external auditors, and leaves them whole for the others. The stored event
// never changes: each output redacts its own copy.
func ExampleRedactor() {
	mask, err := auditevents.MaskIPAddress(24, 48)
	if err != nil {
		fmt.Println(err)
		return
	}
	dropSession, err := auditevents.RedactFields("metadata.session")
	if err != nil {
		fmt.Println(err)
		return
	}
	forExternal := auditevents.ChainRedactors(mask, dropSession)
	redact := auditevents.Redactor(func(ctx context.Context, e *auditevents.AuditEvent) {
		if ctx.Value(audienceKey{}) == "external" {
			forExternal(ctx, e)
		}
	})

	e := auditevents.AuditEvent{
		ID:           "01JGFJJZ000000000000000000",
		Timestamp:    time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
		User:         "alice@example.com",
		Action:       auditevents.ActionDeleted,
		ResourceKind: auditevents.KindAPIKey,
		IPAddress:    "2001:db8:1:2::5",
		Metadata:     map[string]string{"session": "s-42", "region": "eu-west-1"},
	}
	external := context.WithValue(context.Background(), audienceKey{}, "external")
	for _, ctx := range []context.Context{context.Background(), external} {
		out := redact.Apply(ctx, e)
		fmt.Println(out.IPAddress, out.Metadata)
	}
	out := redact.Apply(external, e)
	fmt.Printf("%s\n", out.AppendJSON(nil))
	fmt.Println("stored:", e.IPAddress, e.Metadata)
	// Output:
	// 2001:db8:1:2::5 map[region:eu-west-1 session:s-42]
	// 2001:db8:1:: map[region:eu-west-1]
	// {"id":"01JGFJJZ000000000000000000","timestamp":"2025-01-02T15:04:05.000000Z","account":"","user":"alice@example.com","action":"Deleted","resourceKind":"APIKey","resourceName":"","configuration":"","description":"","ipAddress":"2001:db8:1::","metadata":{"region":"eu-west-1"}}
	// stored: 2001:db8:1:2::5 map[region:eu-west-1 session:s-42]
}
