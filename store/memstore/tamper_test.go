package memstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/note"
)

// Changing an actor field of a stored event, in the store's own memory,
// is reported by Verify as that event modified, as a change of any other
// field is: the leaf (encoding version 2) covers the actor fields. Events
// without actor context in the same log verify with their version 1
// leaves.
func TestVerifyReportsChangedActorFields(t *testing.T) {
	ctx := context.Background()
	skey, vkey, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	events := make([]auditevents.AuditEvent, 10)
	for i := range events {
		events[i] = auditevents.AuditEvent{
			ID:        fmt.Sprintf("01JGKRQ3M8V63QXKKD6T5A%04d", i),
			Timestamp: time.Date(2025, 1, 2, 15, 4, i, 0, time.UTC),
			Account:   "acme", User: "alice", Action: auditevents.ActionModified,
			ResourceKind: auditevents.KindConfiguration, ResourceName: "nginx",
		}
		if i%2 == 1 {
			events[i].IPAddress = "192.0.2.7"
			events[i].UserAgent = "curl/8.5.0"
			events[i].RequestID = fmt.Sprintf("req-%d", i)
			events[i].Metadata = map[string]string{"region": "eu-west-1", "session": "s-1"}
		}
	}
	for _, tc := range []struct {
		name   string
		seq    int64
		tamper func(e *auditevents.AuditEvent)
	}{
		{"ip address changed", 3, func(e *auditevents.AuditEvent) { e.IPAddress = "198.51.100.1" }},
		{"user agent removed", 5, func(e *auditevents.AuditEvent) { e.UserAgent = "" }},
		{"request ID changed", 7, func(e *auditevents.AuditEvent) { e.RequestID = "req-8" }},
		{"metadata value changed", 1, func(e *auditevents.AuditEvent) { e.Metadata["region"] = "us-east-1" }},
		{"metadata entry removed", 9, func(e *auditevents.AuditEvent) { delete(e.Metadata, "session") }},
		{"metadata removed", 9, func(e *auditevents.AuditEvent) { e.Metadata = nil }},
		{"ip address added to an event without actor context", 4, func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.7" }},
		{"metadata added to an event without actor context", 0, func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": "v"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			defer s.Close()
			if err := s.Append(ctx, events...); err != nil {
				t.Fatal(err)
			}
			cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "acme", signer)
			if err != nil {
				t.Fatal(err)
			}
			opts := auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}
			if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, "acme"), opts); err != nil {
				t.Fatalf("Verify before tampering: %v", err)
			}
			s.mu.Lock()
			tc.tamper(s.logs["acme"].events[tc.seq])
			s.mu.Unlock()
			_, err = auditevents.Verify(ctx, auditevents.AccountLog(s, "acme"), opts)
			var te *auditevents.TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify after tampering = %v, want a TamperError", err)
			}
			want := auditevents.Problem{Kind: auditevents.Modified, Seq: tc.seq, Count: 1}
			if len(te.Problems) != 1 || te.Problems[0].Kind != want.Kind || te.Problems[0].Seq != want.Seq || te.Problems[0].Count != want.Count {
				t.Errorf("problems %v, want event %d modified", te, tc.seq)
			}
		})
	}
}
