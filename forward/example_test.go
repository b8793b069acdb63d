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
