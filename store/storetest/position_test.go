package storetest_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/auditevents/auditevents/store/storetest"
)

// brokenPositionsEnv names the broken positions that
// TestBrokenPositionsChild runs the suite against.
const brokenPositionsEnv = "AUDITEVENTS_STORETEST_BROKEN_POSITIONS"

// brokenPositions is a memstore whose positions are kept in a map of their
// own, with one bug.
type brokenPositions struct {
	*memstore.Store
	how string

	mu sync.Mutex
	m  map[string]int64
}

func (b *brokenPositions) key(consumer, account string) string {
	switch b.how {
	case "mixes-accounts":
		return consumer
	case "mixes-consumers":
		return account
	case "concatenates":
		return consumer + account
	}
	return consumer + "\x00" + account
}

func (b *brokenPositions) Position(ctx context.Context, consumer, account string) (int64, error) {
	if _, err := b.Store.Position(ctx, consumer, account); err != nil {
		return 0, err // ErrClosed
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.m[b.key(consumer, account)]
	if !ok && b.how == "unknown-is-minus-one" {
		return -1, nil
	}
	return p, nil
}

func (b *brokenPositions) SetPosition(ctx context.Context, consumer, account string, position int64) error {
	if b.how != "usable-after-close" {
		if _, err := b.Store.Position(ctx, consumer, account); err != nil {
			return err
		}
	}
	size, err := b.TreeSize(ctx, account)
	if err != nil && b.how != "usable-after-close" {
		return err
	}
	if b.how != "beyond-size" {
		if err := auditevents.CheckPosition(consumer, position, size); err != nil {
			return err
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.how == "forgets-backwards" && position < b.m[b.key(consumer, account)] {
		return nil
	}
	b.m[b.key(consumer, account)] = position
	return nil
}

// TestBrokenPositionsChild runs the suite's positions checks against the
// broken positions that brokenPositionsEnv names; it does nothing unless
// TestSuiteFindsBrokenPositions runs it.
func TestBrokenPositionsChild(t *testing.T) {
	how := os.Getenv(brokenPositionsEnv)
	if how == "" {
		t.Skip("run by TestSuiteFindsBrokenPositions")
	}
	storetest.Run(t, func(testing.TB) auditevents.Store {
		return &brokenPositions{Store: memstore.New(), how: how, m: map[string]int64{}}
	})
}

// The suite's positions checks fail against each deliberately broken
// implementation, in the check that covers what it breaks; a correct one
// (the same code without a bug) passes.
func TestSuiteFindsBrokenPositions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite in child processes")
	}
	for how, check := range map[string]string{
		"":                     "",
		"mixes-accounts":       "PositionsIndependent",
		"mixes-consumers":      "PositionsIndependent",
		"concatenates":         "PositionsIndependent",
		"unknown-is-minus-one": "PositionsUnknown",
		"beyond-size":          "PositionsInvalid",
		"forgets-backwards":    "PositionsRoundTrip",
		"usable-after-close":   "PositionsClosed",
	} {
		name := how
		if name == "" {
			name, how = "none", "correct"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestBrokenPositionsChild$/^Positions", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), brokenPositionsEnv+"="+how)
			out, err := cmd.CombinedOutput()
			if check == "" {
				if err != nil || !strings.Contains(string(out), "--- PASS: TestBrokenPositionsChild/PositionsIndependent") {
					t.Fatalf("the suite failed, or did not run, the positions checks of a correct implementation (%v):\n%s", err, out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed positions broken by %s", how)
			}
			if !strings.Contains(string(out), "--- FAIL: TestBrokenPositionsChild/"+check) {
				t.Errorf("the suite did not fail %s for positions broken by %s:\n%s", check, how, out)
			}
		})
	}
}
