package forward

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader is the HTTP header in which a [Webhook] signs each request.
//
// Its value is "t=<timestamp>,v1=<signature>": timestamp is the time of
// sending in Unix seconds, and signature is the lowercase hex HMAC-SHA256,
// keyed with the shared secret, of the timestamp in decimal, a full stop, and
// the request body byte for byte:
//
//	v1 = hex(HMAC-SHA256(secret, "1735830245" + "." + body))
//
// Signing the timestamp with the body lets a receiver reject a replayed
// request: [VerifySignature] refuses a signature older (or newer) than its
// tolerance. A receiver ignores schemes other than v1 and accepts the request
// when any v1 signature matches, so a sender may add signatures (during a
// change of secret, or of scheme) without breaking receivers. The scheme is
// that of Stripe's webhooks.
const SignatureHeader = "Auditevents-Signature"

// DefaultSignatureTolerance is how far the timestamp of a signature may be
// from the receiver's clock when [VerifySignature] is given no tolerance.
const DefaultSignatureTolerance = 5 * time.Minute

// Sign returns the value of [SignatureHeader] for body sent at t with secret.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

// mac returns HMAC-SHA256(secret, ts "." body).
func mac(secret []byte, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// VerifySignature checks the value of a request's [SignatureHeader] against
// its body, as a webhook receiver must before trusting the events: one of the
// v1 signatures must be the HMAC-SHA256 of the body with secret, and the
// timestamp must lie within tolerance of now (a tolerance of zero or less
// means [DefaultSignatureTolerance]). Read the body whole and unmodified, and
// verify before parsing it.
//
// It returns nil when the request is authentic, or a [*SignatureError]
// (wrapping [ErrInvalidSignature]) saying what was wrong: a missing or
// malformed header, no matching signature, or a timestamp outside the
// tolerance, which is how a replayed request is refused. The comparison takes
// the same time whatever the signature. It is safe for concurrent use.
func VerifySignature(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultSignatureTolerance
	}
	if header == "" {
		return &SignatureError{Reason: "no " + SignatureHeader + " header"}
	}
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		key, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return &SignatureError{Reason: "malformed header: expected t=<unix seconds>,v1=<hex>"}
		}
		switch key {
		case "t":
			ts = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return &SignatureError{Reason: "malformed v1 signature: expected 64 hex digits"}
			}
			sigs = append(sigs, sig)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return &SignatureError{Reason: "malformed or missing timestamp: expected t=<unix seconds>"}
	}
	if len(sigs) == 0 {
		return &SignatureError{Reason: "no v1 signature"}
	}
	want := mac(secret, ts, body)
	match := false
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			match = true
		}
	}
	if !match {
		return &SignatureError{Reason: "no signature matches the body"}
	}
	if age := now.Sub(time.Unix(sec, 0)); age > tolerance || age < -tolerance {
		return &SignatureError{Reason: "timestamp " + ts + " is " + age.Round(time.Second).String() + " from now, outside the tolerance of " + tolerance.String()}
	}
	return nil
}
