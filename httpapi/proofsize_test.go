package httpapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"iter"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// bigLedger is a store whose account "acme" has a tree of a million
// events, with made-up hashes: enough to serve proofs, without the events.
type bigLedger struct{ auditevents.Store }

const bigSize = 1_000_000

func (bigLedger) TreeSize(context.Context, string) (int64, error) { return bigSize, nil }
func (bigLedger) Entries(context.Context, string, int64) iter.Seq2[auditevents.Entry, error] {
	return func(func(auditevents.Entry, error) bool) {}
}
func (bigLedger) Accounts(context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) { yield("acme", nil) }
}

// Lookup places the event whose ID ends in 0 at sequence 0, whose proof is
// the longest, and any other at the end of the tree.
func (bigLedger) Lookup(_ context.Context, id string) (auditevents.Entry, error) {
	seq := int64(bigSize - 2)
	if id[len(id)-1] == '0' {
		seq = 0
	}
	return auditevents.Entry{Seq: seq, Event: auditevents.AuditEvent{ID: id, Account: "acme"}}, nil
}
func (bigLedger) ReadHashes(_ context.Context, _ string, indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(x)))
	}
	return out, nil
}

// An inclusion proof at a million events, as the endpoint sends it, is at
// most 1 KB: small enough to hand out as a receipt with every event.
func TestInclusionProofSize(t *testing.T) {
	skey, _, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	h, err := httpapi.New(bigLedger{}, &httpapi.Options{
		Authorize: func(*http.Request) (string, error) { return "acme", nil },
		Log:       &httpapi.LogOptions{Name: "example.com/audit", Signer: signer},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	for _, id := range []string{"01JPAQ00000000000000000040", "01JPAQ00000000000000000042"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/audit-events/log/inclusion?id="+id, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		if n := rec.Body.Len(); n > 1024 {
			t.Errorf("the inclusion proof at %d events is %d bytes, more than 1 KB: %s", bigSize, n, rec.Body)
		}
		t.Logf("inclusion proof of %s at %d events: %d bytes", id, bigSize, rec.Body.Len())
	}
}
