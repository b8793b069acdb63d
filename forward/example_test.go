package forward_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
	"github.com/auditevents/auditevents/store/memstore"
)

// A webhook receiver checks the signature over the raw body before it trusts
// a single event, and refuses a request older than the tolerance, so a
// captured request cannot be replayed.
func ExampleVerifySignature() {
	secret := []byte("a shared secret of 32 bytes.....")
	receiver := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := forward.VerifySignature(secret, r.Header.Get(forward.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		fmt.Printf("%d events\n", strings.Count(string(body), "\n"))
	})
	srv := httptest.NewServer(receiver)
	defer srv.Close()

	hook, err := forward.NewWebhook(srv.URL, &forward.WebhookOptions{Secret: secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	events := []auditevents.AuditEvent{{
		ID:           "01JGKRQ3M8V63QXKKD6T5AR6KF",
		Timestamp:    time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
		User:         "alice",
		Action:       auditevents.ActionCreated,
		ResourceKind: auditevents.KindConfiguration,
		ResourceName: "nginx",
	}}
	fmt.Println("sent:", hook.Send(context.Background(), events))

	forged, _ := forward.NewWebhook(srv.URL, &forward.WebhookOptions{Secret: []byte("a guess")})
	err = forged.Send(context.Background(), events)
	fmt.Println("forged:", err, "permanent:", forward.IsPermanent(err))
	// Output:
	// 1 events
	// sent: <nil>
	// forged: permanent: forward: webhook answered 401: "forward: invalid webhook signature: no signature matches the body\n" permanent: true
}

// printSink prints each batch it receives, and calls done after the last
// event it expects.
type printSink struct {
	left int
	done func()
}

func (s *printSink) Send(_ context.Context, events []auditevents.AuditEvent) error {
	fmt.Printf("batch of %d:", len(events))
	for _, e := range events {
		fmt.Printf(" %s/%s", e.ResourceName, e.Action)
	}
	fmt.Println()
	if s.left -= len(events); s.left == 0 {
		s.done()
	}
	return nil
}

// A Forwarder runs beside the store: each route reads the events of its
// accounts in the order they were committed, from the position it keeps in
// the store, and hands them to its sink in batches.
func ExampleForwarder() {
	store := memstore.New()
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := auditevents.NewRecorder(store, nil)
	for i, name := range []string{"nginx", "redis", "api-key", "postgres"} {
		action, kind := auditevents.ActionCreated, auditevents.KindConfiguration
		if i == 2 {
			action, kind = auditevents.ActionDeleted, auditevents.KindAPIKey
		}
		if err := rec.Record(ctx, auditevents.AuditEvent{User: "alice", Action: action, ResourceKind: kind, ResourceName: name}); err != nil {
			fmt.Println(err)
			return
		}
	}

	f, err := forward.New(store, []forward.Route{{
		Name:  "siem",
		Sink:  &printSink{left: 3, done: cancel},
		Kinds: []auditevents.Kind{auditevents.KindConfiguration},
	}}, &forward.Options{BatchSize: 2})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("run:", f.Run(ctx))
	m := f.Metrics()[0]
	fmt.Println("delivered:", m.Delivered)
	pos, _ := store.Position(context.Background(), "siem", "")
	fmt.Println("position:", pos)
	// Output:
	// batch of 2: nginx/Created redis/Created
	// batch of 1: postgres/Created
	// run: <nil>
	// delivered: 3
	// position: 4
}

// ipSink prints the address of each event it receives, and calls done after
// the last event it expects.
type ipSink struct {
	name string
	left int
	done func()
}

func (s *ipSink) Send(_ context.Context, events []auditevents.AuditEvent) error {
	for _, e := range events {
		fmt.Printf("%s: %s %q %v\n", s.name, e.IPAddress, e.UserAgent, e.Metadata)
	}
	if s.left -= len(events); s.left == 0 {
		s.done()
	}
	return nil
}

// A route to a receiver outside the organisation masks the clients'
// addresses to their networks and drops the user agent and the session;
// the route to the organisation's own SIEM gets the events as stored.
func ExampleRoute_redact() {
	store := memstore.New()
	defer store.Close()
	ctx := context.Background()
	rec := auditevents.NewRecorder(store, nil)
	ctx = auditevents.ContextWithActor(ctx, auditevents.Actor{
		IPAddress: "192.0.2.77", UserAgent: "curl/8.5.0",
		Metadata: map[string]string{"session": "s-42", "region": "eu-west-1"},
	})
	if err := rec.RecordWithActor(ctx, auditevents.AuditEvent{User: "alice", Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAPIKey}); err != nil {
		fmt.Println(err)
		return
	}

	mask, err := auditevents.MaskIPAddress(24, 48)
	if err != nil {
		fmt.Println(err)
		return
	}
	drop, err := auditevents.RedactFields("userAgent", "metadata.session")
	if err != nil {
		fmt.Println(err)
		return
	}
	// Each route's Run ends when its sink has its event.
	for _, route := range []forward.Route{
		{Name: "siem"},
		{Name: "partner", Redact: auditevents.ChainRedactors(mask, drop)},
	} {
		runCtx, cancel := context.WithCancel(context.Background())
		route.Sink = &ipSink{name: route.Name, left: 1, done: cancel}
		f, err := forward.New(store, []forward.Route{route}, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := f.Run(runCtx); err != nil {
			fmt.Println(err)
		}
		cancel()
	}
	// Output:
	// siem: 192.0.2.77 "curl/8.5.0" map[region:eu-west-1 session:s-42]
	// partner: 192.0.2.0 "" map[region:eu-west-1]
}
