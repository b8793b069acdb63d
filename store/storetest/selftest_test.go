package storetest

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/auditevents/auditevents"
)

// TestNaiveStore runs the suite against the naive store with no bug: the
// control for TestSuiteCatchesBrokenStores, which shows that the failures
// there come from the bugs.
func TestNaiveStore(t *testing.T) {
	Run(t, func(testing.TB) auditevents.Store { return newNaive(noBug) })
}

// brokenStoreEnv names the environment variable that tells
// TestBrokenStore which bug its store has.
const brokenStoreEnv = "STORETEST_BUG"

// TestBrokenStore runs the suite against a naive store with the bug that
// STORETEST_BUG names. TestSuiteCatchesBrokenStores runs it in a child
// process, where it is expected to fail; on its own it does nothing.
func TestBrokenStore(t *testing.T) {
	b, ok := os.LookupEnv(brokenStoreEnv)
	if !ok {
		t.Skip("run by TestSuiteCatchesBrokenStores")
	}
	Run(t, func(testing.TB) auditevents.Store { return newNaive(bug(b)) })
}

// TestSuiteCatchesBrokenStores runs the suite against stores with one
// deliberate bug each, and checks that each area that the bug breaks fails.
// Each run is a child process running TestBrokenStore, so that the suite
// runs under a real *testing.T, exactly as a store's own test runs it.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the suite once per broken store")
	}
	tests := []struct {
		bug bug
		// caughtBy lists the areas that must report the bug; others may
		// too.
		caughtBy []string
	}{
		{bugScopeDroppedByCursor, []string{"AccountScopeWithCursor"}},
		{bugSkipAtChunkBoundary, []string{"SparseMatches", "LargeResult"}},
		{bugTiesAscending, []string{"Order", "CursorPages"}},
		{bugPartialBatch, []string{"Validation", "DuplicateIDs"}},
		{bugMaxDateExclusive, []string{"DateBounds"}},
		{bugPruneOneTooMany, []string{"Prune"}},
		{bugWholeResultInMemory, []string{"LargeResult"}},
		{bugLimitPlusOne, []string{"Limit"}},
		{bugConfigurationPrefix, []string{"Configuration", "Filters"}},
		{bugCursorInclusive, []string{"CursorPages"}},
		{bugIgnoresContext, []string{"Cancellation"}},
		{bugStoppedPruneCountsNil, []string{"PruneStopped"}},
		{bugRemembersPrunedIDs, []string{"PrunedIDs"}},
		{bugUsableAfterClose, []string{"Closed"}},
		{bugDropsMetadata, []string{"ActorRoundTrip", "MetadataNotShared"}},
		{bugIPPrefixIgnored, []string{"ActorFilters"}},
		{bugSharesMetadata, []string{"MetadataNotShared"}},
	}
	failLine := regexp.MustCompile(`(?m)^\s*--- FAIL: TestBrokenStore/([^/\s]+)`)
	for _, tt := range tests {
		t.Run(string(tt.bug), func(t *testing.T) {
			t.Parallel()
			// Only the areas that must catch the bug run, each as Run
			// runs it: the whole suite for every bug would take minutes
			// under the race detector.
			run := "^TestBrokenStore$/^(" + strings.Join(tt.caughtBy, "|") + ")$"
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+run, "-test.count=1")
			cmd.Env = append(os.Environ(), brokenStoreEnv+"="+string(tt.bug))
			out, err := cmd.CombinedOutput()
			if _, failed := err.(*exec.ExitError); !failed {
				t.Fatalf("the suite passed a store with bug %s (err %v); output:\n%s", tt.bug, err, out)
			}
			var failedAreas []string
			for _, m := range failLine.FindAllSubmatch(out, -1) {
				failedAreas = append(failedAreas, string(m[1]))
			}
			for _, area := range tt.caughtBy {
				if !slices.Contains(failedAreas, area) {
					t.Errorf("area %s did not catch bug %s; the failing areas were %v", area, tt.bug, failedAreas)
				}
			}
			if strings.Contains(string(out), "panic:") {
				t.Errorf("the suite panicked on bug %s instead of failing:\n%s", tt.bug, out)
			}
			if t.Failed() {
				t.Logf("output of the suite:\n%s", out)
			}
		})
	}
}
