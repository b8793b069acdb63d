package forward_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents/forward"
)

// The signature of a known body, computed with Python's hmac module, so the
// scheme a receiver implements from the documentation is the one sent.
func TestSignKnownAnswer(t *testing.T) {
	secret := []byte("whsec_5f2b")
	body := []byte(`{"id":"01JGKRQ3M8V63QXKKD6T5AR6KF"}` + "\n")
	got := forward.Sign(secret, time.Unix(1735830245, 0), body)
	want := "t=1735830245,v1=894426ad52b7d59f05ac64531702991d6900c39cf9b5ec521a5001ace772160c"
	if got != want {
		t.Errorf("Sign = %q, want %q", got, want)
	}
}

// VerifySignature accepts what Sign wrote and refuses, with a reason, every
// way a forged, altered or replayed request differs.
func TestVerifySignature(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	body := []byte("{\"id\":\"x\"}\n")
	sent := time.Unix(1735830245, 0)
	good := forward.Sign(secret, sent, body)
	v1 := good[strings.Index(good, "v1="):]
	other := forward.Sign([]byte("another secret"), sent, body)
	otherV1 := other[strings.Index(other, "v1="):]
	for _, tc := range []struct {
		name      string
		secret    []byte
		header    string
		body      []byte
		now       time.Time
		tolerance time.Duration
		reason    string // "" when the request must be accepted
	}{
		{"authentic", secret, good, body, sent, 0, ""},
		{"within the default tolerance", secret, good, body, sent.Add(5 * time.Minute), 0, ""},
		{"clock behind the sender", secret, good, body, sent.Add(-4 * time.Minute), 0, ""},
		{"spaces after commas", secret, "t=1735830245, " + v1, body, sent, 0, ""},
		{"one of two signatures matches", secret, "t=1735830245," + otherV1 + "," + v1, body, sent, 0, ""},
		{"unknown scheme ignored", secret, "t=1735830245,v0=zz," + v1, body, sent, 0, ""},
		{"replayed after the tolerance", secret, good, body, sent.Add(5*time.Minute + time.Second), 0, "outside the tolerance"},
		{"replayed after a custom tolerance", secret, good, body, sent.Add(31 * time.Second), 30 * time.Second, "outside the tolerance"},
		{"timestamp in the future", secret, good, body, sent.Add(-6 * time.Minute), 0, "outside the tolerance"},
		{"body altered", secret, good, []byte("{\"id\":\"y\"}\n"), sent, 0, "no signature matches"},
		{"wrong secret", []byte("guess"), good, body, sent, 0, "no signature matches"},
		{"timestamp altered", secret, "t=1735830246," + v1, body, sent, 0, "no signature matches"},
		{"no header", secret, "", body, sent, 0, "no Auditevents-Signature header"},
		{"no timestamp", secret, v1, body, sent, 0, "missing timestamp"},
		{"timestamp not a number", secret, "t=soon," + v1, body, sent, 0, "missing timestamp"},
		{"no v1", secret, "t=1735830245", body, sent, 0, "no v1 signature"},
		{"v1 not hex", secret, "t=1735830245,v1=xyz", body, sent, 0, "malformed v1"},
		{"v1 too short", secret, "t=1735830245,v1=abcd", body, sent, 0, "malformed v1"},
		{"part without equals sign", secret, "t=1735830245,garbage," + v1, body, sent, 0, "malformed header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := forward.VerifySignature(tc.secret, tc.header, tc.body, tc.now, tc.tolerance)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("VerifySignature = %v, want nil", err)
				}
				return
			}
			var se *forward.SignatureError
			if !errors.As(err, &se) || !errors.Is(err, forward.ErrInvalidSignature) {
				t.Fatalf("VerifySignature = %v, want a SignatureError wrapping ErrInvalidSignature", err)
			}
			if !strings.Contains(se.Reason, tc.reason) {
				t.Errorf("reason %q does not say %q", se.Reason, tc.reason)
			}
		})
	}
}
