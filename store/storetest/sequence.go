package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

// runLedger checks the [auditevents.Ledger] contract when the store
// implements it, which it learns from one store made and closed at once:
// sequences, the Merkle tree, proofs and retention, each area with a fresh
// store. Expected roots come from a naive recursive RFC 6962 hash of the
// model's leaves, not from tlog or the store.
func runLedger(t *testing.T, newStore NewStore) {
	t.Helper()
	probe := newStore(t)
	_, ok := probe.(auditevents.Ledger)
	probe.Close()
	if !ok {
		return
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s auditevents.Ledger, st auditevents.Store)
	}{
		{"LedgerSequences", testLedgerSequences},
		{"LedgerTree", testLedgerTree},
		{"LedgerEntriesFrom", testLedgerEntriesFrom},
		{"LedgerBatchAtomic", testLedgerBatchAtomic},
		{"LedgerConcurrentAppends", testLedgerConcurrentAppends},
		{"LedgerPrune", testLedgerPrune},
		{"LedgerClosed", testLedgerClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			t.Cleanup(func() {
				if c, ok := ledgerContracts[tt.name]; ok && t.Failed() {
					t.Logf("the contract: %s", c)
				}
			})
			tt.fn(t, s.(auditevents.Ledger), s)
		})
	}
}

// ledgerContracts says, for each area of the Ledger contract, what it
// checks and why users rely on it; Run logs it when the area fails, as it
// logs the contract of each area of the Store.
var ledgerContracts = map[string]string{
	"LedgerSequences":         "each account's events get sequences from 0, without gaps, in commit order and batch order (not timestamp order), and Lookup and Accounts agree with them: users read a log in the order it was written and resume from a position",
	"LedgerTree":              "the tree's root is RFC 6962's over the events' leaves, its inclusion and consistency proofs check with tlog, and hashes beyond the tree are refused: what a client of the proof endpoints and an auditor rely on",
	"LedgerEntriesFrom":       "Entries resumes from any sequence up to the tree size and refuses one outside it with a QueryError, as a reader that stopped and comes back needs",
	"LedgerBatchAtomic":       "a batch that fails takes no sequence, so the log stays gapless and verifies",
	"LedgerConcurrentAppends": "writers appending to one account at once get distinct, gapless sequences, each batch's consecutive and in batch order",
	"LedgerPrune":             "Prune deletes events but keeps the tree: pruned sequences come as pruned runs, and the size, the root and the proofs do not change, so a verifier tells retention from tampering",
	"LedgerClosed":            "after Close the Ledger's methods return ErrClosed, as the Store's do",
}

// accountCorpus returns the varied events of corpus, all in account acme.
func accountCorpus(g *Generator, n int) []auditevents.AuditEvent {
	events := corpus(g, n)
	for i := range events {
		events[i].Account = "acme"
	}
	return events
}

// naiveRoot is RFC 6962's tree hash, MTH, computed by its recursive
// definition from the leaves: the model's root.
func naiveRoot(leaves []tlog.Hash) tlog.Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := naiveRoot(leaves[:k]), naiveRoot(leaves[k:])
	return sha256.Sum256(append(append([]byte{1}, l[:]...), r[:]...))
}

// modelLeaves returns the leaves of events appended in this order, as
// the model stores them.
func modelLeaves(events []auditevents.AuditEvent) []tlog.Hash {
	out := make([]tlog.Hash, len(events))
	for i := range events {
		e := stored(events[i])
		out[i] = auditevents.LeafHash(int64(i), &e)
	}
	return out
}

// entries reads the account's whole log.
func entries(tb testing.TB, l auditevents.Ledger, account string, from int64) []auditevents.Entry {
	tb.Helper()
	var out []auditevents.Entry
	for e, err := range l.Entries(context.Background(), account, from) {
		if err != nil {
			tb.Fatalf("Entries(%q, %d): %v", account, from, err)
		}
		out = append(out, e)
	}
	return out
}

// sameLog fails unless the account's log holds exactly want, at sequences
// 0, 1, 2 …, and its tree is the model's.
func sameLog(tb testing.TB, l auditevents.Ledger, account string, want []auditevents.AuditEvent) {
	tb.Helper()
	got := entries(tb, l, account, 0)
	if len(got) != len(want) {
		tb.Fatalf("account %q: %d entries, want %d", account, len(got), len(want))
	}
	for i, e := range got {
		if e.Seq != int64(i) || e.Pruned != 0 {
			tb.Fatalf("account %q: entry %d has sequence %d (pruned %d), want sequence %d", account, i, e.Seq, e.Pruned, i)
		}
		sameEvent(tb, e.Event, stored(want[i]))
	}
	size, root, err := auditevents.TreeHead(context.Background(), l, account)
	if err != nil {
		tb.Fatalf("TreeHead(%q): %v", account, err)
	}
	if size != int64(len(want)) || root != naiveRoot(modelLeaves(want)) {
		tb.Errorf("account %q: tree size %d, want %d; root matches the model: %v", account, size, len(want), root == naiveRoot(modelLeaves(want)))
	}
}

// Sequences are given per account, from 0, in commit order and batch order,
// not timestamp order: users rely on them to read a log in the order it was
// written and to resume reading from a position.
func testLedgerSequences(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	ctx := context.Background()
	g := NewGenerator(40)
	var singles, batch []auditevents.AuditEvent
	for i := range 30 {
		e := event(g, base.Add(time.Duration(30-i)*time.Minute)) // newest first
		if i%3 == 0 {
			e.Account = "globex"
		}
		if i%7 == 0 { // some single appends, then one batch of the rest
			appendAll(t, s, e)
			singles = append(singles, e)
		} else {
			batch = append(batch, e)
		}
	}
	appendAll(t, s, batch...)
	var wantAcme, wantGlobex []auditevents.AuditEvent
	for _, e := range append(singles, batch...) {
		if e.Account == "globex" {
			wantGlobex = append(wantGlobex, e)
		} else {
			wantAcme = append(wantAcme, e)
		}
	}
	sameLog(t, l, "acme", wantAcme)
	sameLog(t, l, "globex", wantGlobex)
	sameLog(t, l, "nobody", nil)

	var accounts []string
	for a, err := range l.Accounts(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		accounts = append(accounts, a)
	}
	if !slices.Equal(accounts, []string{"acme", "globex"}) {
		t.Errorf("Accounts = %q, want acme, globex", accounts)
	}
	for i, e := range wantGlobex {
		got, err := l.Lookup(ctx, e.ID)
		if err != nil || got.Seq != int64(i) || got.Event.ID != e.ID {
			t.Errorf("Lookup(%s) = sequence %d, %v; want %d", e.ID, got.Seq, err, i)
		}
	}
	if _, err := l.Lookup(ctx, event(g, base).ID); !errors.Is(err, auditevents.ErrNotFound) {
		t.Errorf("Lookup of an unknown ID = %v, want ErrNotFound", err)
	}
}

// The tree's proofs check with tlog against the root: what a client of the
// proof endpoints relies on.
func testLedgerTree(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	ctx := context.Background()
	g := NewGenerator(41)
	events := accountCorpus(g, 77)
	appendAll(t, s, events[:33]...)
	appendAll(t, s, events[33:]...)
	leaves := modelLeaves(events)
	root := naiveRoot(leaves)
	for _, seq := range []int64{0, 1, 32, 33, 76} {
		p, err := auditevents.ProveInclusion(ctx, l, "acme", seq, 77)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, 77, root, seq, leaves[seq]); err != nil {
			t.Errorf("inclusion proof of sequence %d: %v", seq, err)
		}
	}
	p, err := auditevents.ProveConsistency(ctx, l, "acme", 33, 77)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(p, 77, root, 33, naiveRoot(leaves[:33])); err != nil {
		t.Errorf("consistency proof 33..77: %v", err)
	}
	var qe *auditevents.QueryError
	if _, err := l.ReadHashes(ctx, "acme", []int64{tlog.StoredHashCount(77)}); !errors.As(err, &qe) || qe.Param != "index" {
		t.Errorf("ReadHashes beyond the tree = %v, want a QueryError for index", err)
	}
}

// Entries resumes from any sequence, as a reader that stopped and comes
// back does; a sequence beyond the tree is an input error.
func testLedgerEntriesFrom(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	g := NewGenerator(42)
	events := accountCorpus(g, 600) // more than a store reads at once
	appendAll(t, s, events...)
	for _, from := range []int64{0, 1, 299, 599, 600} {
		got := entries(t, l, "acme", from)
		if len(got) != 600-int(from) {
			t.Fatalf("Entries from %d: %d entries, want %d", from, len(got), 600-from)
		}
		for i, e := range got {
			if e.Seq != from+int64(i) || e.Event.ID != events[e.Seq].ID {
				t.Fatalf("Entries from %d: entry %d is sequence %d, %s", from, i, e.Seq, e.Event.ID)
			}
		}
	}
	for _, from := range []int64{-1, 601} {
		var qe *auditevents.QueryError
		for _, err := range l.Entries(context.Background(), "acme", from) {
			if !errors.As(err, &qe) || qe.Param != "from" {
				t.Errorf("Entries from %d: %v, want a QueryError for from", from, err)
			}
			break
		}
		if qe == nil {
			t.Errorf("Entries from %d yielded no error", from)
		}
	}
	// Breaking out early and appending from the loop's body is allowed.
	for e, err := range l.Entries(context.Background(), "acme", 0) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq == 10 {
			appendAll(t, s, event(g, base))
			break
		}
	}
}

// A batch that fails takes no sequence, so the log stays gapless.
func testLedgerBatchAtomic(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	g := NewGenerator(43)
	a, b, c := event(g, base), event(g, base), event(g, base)
	appendAll(t, s, a)
	if err := s.Append(context.Background(), b, a); !errors.Is(err, auditevents.ErrDuplicateID) {
		t.Fatalf("Append with a stored ID = %v, want ErrDuplicateID", err)
	}
	bad := c
	bad.User = ""
	if err := s.Append(context.Background(), b, bad); err == nil {
		t.Fatal("Append with an invalid event succeeded")
	}
	appendAll(t, s, b, c)
	sameLog(t, l, "acme", []auditevents.AuditEvent{a, b, c})
}

// Writers appending to one account at once get distinct, gapless
// sequences, each batch's in its order.
func testLedgerConcurrentAppends(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	const writers, batches, perBatch = 6, 20, 3
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	appended := make([][][]string, writers) // appended[w][b]: the IDs of writer w's batch b, in batch order
	for w := range writers {
		g := NewGenerator(uint64(200 + w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				var batch []auditevents.AuditEvent
				var ids []string
				for range perBatch {
					e := event(g, base)
					batch = append(batch, e)
					ids = append(ids, e.ID)
				}
				if err := s.Append(context.Background(), batch...); err != nil {
					errs <- err
					return
				}
				appended[w] = append(appended[w], ids)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := entries(t, l, "acme", 0)
	var events []auditevents.AuditEvent
	pos := make(map[string]int64)
	for i, e := range got {
		if e.Seq != int64(i) {
			t.Fatalf("entry %d has sequence %d", i, e.Seq)
		}
		events = append(events, e.Event)
		pos[e.Event.ID] = e.Seq
	}
	if len(pos) != writers*batches*perBatch {
		t.Fatalf("%d distinct events in the log, want %d", len(pos), writers*batches*perBatch)
	}
	// A batch's events hold consecutive sequences, in batch order, and a
	// writer's batches follow each other in the order it appended them.
	for w, byWriter := range appended {
		for b, ids := range byWriter {
			first, ok := pos[ids[0]]
			if !ok {
				t.Fatalf("writer %d batch %d: %s is not in the log", w, b, ids[0])
			}
			for k, id := range ids {
				if seq, ok := pos[id]; !ok || seq != first+int64(k) {
					t.Fatalf("writer %d batch %d: event %d (%s) has sequence %d, want %d", w, b, k, id, seq, first+int64(k))
				}
			}
			if b > 0 && first <= pos[byWriter[b-1][0]] {
				t.Fatalf("writer %d: batch %d has sequences before its batch %d", w, b, b-1)
			}
		}
	}
	sameLog(t, l, "acme", events)
}

// Pruning deletes events but keeps the tree: the pruned sequences come as
// pruned runs, the tree's size and root do not change and proofs still
// check, so a verifier tells retention from tampering.
func testLedgerPrune(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	ctx := context.Background()
	g := NewGenerator(44)
	var events []auditevents.AuditEvent
	for i := range 50 {
		events = append(events, event(g, base.Add(time.Duration(i)*time.Hour)))
	}
	events[30].Timestamp = base.Add(-time.Hour) // imported late with an old timestamp
	appendAll(t, s, events...)
	_, before, err := auditevents.TreeHead(ctx, l, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, base.Add(10*time.Hour)); err != nil {
		t.Fatal(err)
	}
	size, after, err := auditevents.TreeHead(ctx, l, "acme")
	if err != nil || size != 50 || after != before {
		t.Fatalf("after Prune: size %d, root unchanged %v, %v; want 50, true", size, after == before, err)
	}
	var got []string
	for _, e := range entries(t, l, "acme", 0) {
		if e.Pruned > 0 {
			got = append(got, fmt.Sprintf("pruned %d+%d", e.Seq, e.Pruned))
		} else {
			got = append(got, fmt.Sprint(e.Seq))
		}
	}
	var want []string
	want = append(want, "pruned 0+10")
	for i := 10; i < 50; i++ {
		if i == 30 {
			want = append(want, "pruned 30+1")
		} else {
			want = append(want, fmt.Sprint(i))
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("entries after Prune:\n%v\nwant\n%v", got, want)
	}
	leaves := modelLeaves(events)
	p, err := auditevents.ProveInclusion(ctx, l, "acme", 5, 50)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckRecord(p, 50, before, 5, leaves[5]); err != nil {
		t.Errorf("inclusion of a pruned sequence after Prune: %v", err)
	}
	if _, err := l.Lookup(ctx, events[5].ID); !errors.Is(err, auditevents.ErrNotFound) {
		t.Errorf("Lookup of a pruned event = %v, want ErrNotFound", err)
	}
	appendAll(t, s, event(g, base.Add(100*time.Hour)))
	if n, _ := l.TreeSize(ctx, "acme"); n != 51 {
		t.Errorf("after Prune an append got sequence %d, want 50", n-1)
	}
}

// After Close, the Ledger's methods fail with ErrClosed as the Store's do,
// rather than read a store that is gone.
func testLedgerClosed(t *testing.T, l auditevents.Ledger, s auditevents.Store) {
	ctx := context.Background()
	appendAll(t, s, event(NewGenerator(45), base))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.TreeSize(ctx, "acme"); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("TreeSize after Close = %v, want ErrClosed", err)
	}
	if _, err := l.ReadHashes(ctx, "acme", []int64{0}); !errors.Is(err, auditevents.ErrClosed) {
		t.Errorf("ReadHashes after Close = %v, want ErrClosed", err)
	}
	for _, err := range l.Entries(ctx, "acme", 0) {
		if !errors.Is(err, auditevents.ErrClosed) {
			t.Errorf("Entries after Close = %v, want ErrClosed", err)
		}
		break
	}
}
