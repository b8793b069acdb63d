package storetest_test

import (
	"context"
	"iter"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/auditevents/auditevents/store/storetest"
	"golang.org/x/mod/sumdb/tlog"
)

// brokenEnv names the broken ledger that TestBrokenLedgerChild runs the
// suite against.
const brokenEnv = "AUDITEVENTS_STORETEST_BROKEN"

// broken is a memstore whose Ledger methods misbehave in one way.
type broken struct {
	*memstore.Store
	how string
}

func (b broken) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		for e, err := range b.Store.Entries(ctx, account, from) {
			switch {
			case err != nil:
			case b.how == "gap" && e.Seq == 3:
				continue // a sequence goes missing
			case b.how == "ignores-from":
				e.Seq -= from
			case b.how == "timestamp-order" && e.Seq > 0:
				e.Seq = e.Seq ^ 1 // pairs swapped
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

func (b broken) ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error) {
	hs, err := b.Store.ReadHashes(ctx, account, indexes)
	if b.how == "bad-hash" && err == nil {
		for i, x := range indexes {
			if x == 1 {
				hs[i][0] ^= 1
			}
		}
	}
	return hs, err
}

// TestBrokenLedgerChild runs the suite against the broken ledger that
// brokenEnv names; it does nothing unless TestSuiteFindsBrokenLedgers runs
// it.
func TestBrokenLedgerChild(t *testing.T) {
	how := os.Getenv(brokenEnv)
	if how == "" {
		t.Skip("run by TestSuiteFindsBrokenLedgers")
	}
	storetest.Run(t, func(testing.TB) auditevents.Store { return broken{memstore.New(), how} })
}

// The suite's ledger checks fail against each deliberately broken ledger,
// in the check that covers what it breaks.
func TestSuiteFindsBrokenLedgers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for how, check := range map[string]string{
		"gap":             "LedgerSequences",
		"ignores-from":    "LedgerEntriesFrom",
		"timestamp-order": "LedgerSequences",
		"bad-hash":        "LedgerTree",
	} {
		t.Run(how, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenLedgerChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), brokenEnv+"="+how)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed a ledger broken by %s", how)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenLedgerChild/"+check) {
				t.Errorf("the suite did not fail %s for a ledger broken by %s:\n%s", check, how, out)
			}
		})
	}
}
