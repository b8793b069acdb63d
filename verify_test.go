package auditevents_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/oklog/ulid/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testEvents returns n valid events of the account, with increasing IDs and
// timestamps.
func testEvents(n int, account string) []auditevents.AuditEvent {
	out := make([]auditevents.AuditEvent, n)
	for i := range out {
		ts := at.Add(time.Duration(i) * time.Second)
		var id ulid.ULID
		_ = id.SetTime(ulid.Timestamp(ts))
		id[15] = byte(i)
		id[14] = byte(i >> 8)
		out[i] = auditevents.AuditEvent{
			ID: id.String(), Timestamp: ts, Account: account, User: "alice@example.com",
			Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration,
			ResourceName: "nginx", Configuration: fmt.Sprintf("nginx:%d", i),
		}
	}
	return out
}

// fakeLog is a log an attacker can edit: its entries and stored hashes are
// plain slices. It is built the way a store builds its log.
type fakeLog struct {
	entries []auditevents.Entry
	hashes  []tlog.Hash
	damaged int64 // a sequence whose event the store cannot read; 0 for none
	// lost holds the tiles of 16 sequences whose hashes below level 4 the
	// store cannot give (ErrHashUnavailable), as a store that computes
	// them from the events cannot once one was changed or removed.
	lost map[int64]bool
}

func newFakeLog(tb testing.TB, events []auditevents.AuditEvent) *fakeLog {
	tb.Helper()
	f := &fakeLog{}
	f.add(tb, events...)
	return f
}

// add appends events as a store would.
func (f *fakeLog) add(tb testing.TB, events ...auditevents.AuditEvent) {
	tb.Helper()
	n := int64(len(f.entries))
	var leaves []tlog.Hash
	for i := range events {
		f.entries = append(f.entries, auditevents.Entry{Seq: n + int64(i), Event: events[i]})
		leaves = append(leaves, auditevents.LeafHash(n+int64(i), &events[i]))
	}
	hs, err := auditevents.TreeAppend(n, leaves, hashSlice(f.hashes))
	if err != nil {
		tb.Fatal(err)
	}
	f.hashes = append(f.hashes, hs...)
}

func (f *fakeLog) Entries(ctx context.Context, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		for _, e := range f.entries {
			if e.Seq < from {
				continue
			}
			if f.damaged > 0 && e.Seq == f.damaged {
				yield(auditevents.Entry{}, &auditevents.EntryError{Seq: e.Seq, Err: errors.New("checksum mismatch")})
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// ReadHashes fails as a store does for an index beyond its tree, and for
// the hashes of the lost tiles.
func (f *fakeLog) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	for _, x := range indexes {
		if x >= int64(len(f.hashes)) {
			return nil, &auditevents.QueryError{Param: "index", Value: fmt.Sprint(x), Reason: "beyond the tree"}
		}
		if level, k := tlog.SplitStoredHashIndex(x); level < 4 && f.lost[k<<level/16] {
			return nil, fmt.Errorf("tile %d: %w", k<<level/16, auditevents.ErrHashUnavailable)
		}
	}
	return hashSlice(f.hashes).ReadHashes(indexes)
}

// checkpoint signs the log's current tree.
func (f *fakeLog) checkpoint(tb testing.TB, signer note.Signer) []byte {
	tb.Helper()
	size := int64(len(f.entries))
	root, err := tlog.TreeHash(size, hashSlice(f.hashes))
	if err != nil {
		tb.Fatal(err)
	}
	msg, err := auditevents.SignCheckpoint(auditevents.Checkpoint{Origin: "example.com/audit/acme", Size: size, Hash: root}, signer)
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

// clone returns a copy the test can edit.
func (f *fakeLog) clone() *fakeLog {
	return &fakeLog{entries: slices.Clone(f.entries), hashes: slices.Clone(f.hashes), damaged: f.damaged, lost: maps.Clone(f.lost)}
}

// prune replaces the entries for sequences [lo, hi) by one pruned run.
func (f *fakeLog) prune(lo, hi int64) {
	var out []auditevents.Entry
	for _, e := range f.entries {
		switch {
		case e.Seq == lo:
			out = append(out, auditevents.Entry{Seq: lo, Pruned: hi - lo})
		case e.Seq > lo && e.Seq < hi:
		default:
			out = append(out, e)
		}
	}
	f.entries = out
}

// Verify names exactly what an attacker with write access to a store did,
// and passes an untouched or merely pruned log.
func TestVerify(t *testing.T) {
	ctx := context.Background()
	signer, verifier := testKeys(t)
	const n = 100
	events := testEvents(n+1, "acme")
	orig := newFakeLog(t, events[:n])
	cp := orig.checkpoint(t, signer)
	half := newFakeLog(t, events[:60])
	cp60 := half.checkpoint(t, signer)

	renumber := func(es []auditevents.Entry) []auditevents.Entry {
		for i := range es {
			es[i].Seq = int64(i)
		}
		return es
	}
	tests := []struct {
		name     string
		edit     func(f *fakeLog)
		previous []byte
		latest   []byte                // the checkpoint to verify against; cp when nil
		want     []auditevents.Problem // nil: verifies
		pruned   int64
	}{
		{name: "untouched", edit: func(*fakeLog) {}},
		{name: "untouched, consistent with an earlier checkpoint", edit: func(*fakeLog) {}, previous: cp60},
		{name: "appended after the checkpoint", edit: func(f *fakeLog) { f.add(t, events[n]) }},
		{name: "pruned prefix", edit: func(f *fakeLog) { f.prune(0, 37) }, pruned: 37},
		{name: "pruned run in the middle", edit: func(f *fakeLog) { f.prune(50, 51) }, pruned: 1},
		{
			name: "a byte of a field changed",
			edit: func(f *fakeLog) { f.entries[42].Event.User = "mallory@example.com" },
			want: []auditevents.Problem{{Kind: auditevents.Modified, Seq: 42, Count: 1}},
		},
		{
			name: "an event the store cannot read",
			edit: func(f *fakeLog) { f.damaged = 64 },
			want: []auditevents.Problem{{Kind: auditevents.Modified, Seq: 64, Count: 1}},
		},
		{
			name: "timestamp changed",
			edit: func(f *fakeLog) { f.entries[7].Event.Timestamp = f.entries[7].Event.Timestamp.Add(time.Microsecond) },
			want: []auditevents.Problem{{Kind: auditevents.Modified, Seq: 7, Count: 1}},
		},
		{
			name: "deleted",
			edit: func(f *fakeLog) { f.entries = slices.Delete(f.entries, 30, 31) },
			want: []auditevents.Problem{{Kind: auditevents.Removed, Seq: 30, Count: 1}},
		},
		{
			name: "deleted inside the retained range after pruning",
			edit: func(f *fakeLog) { f.prune(0, 20); f.entries = slices.Delete(f.entries, 10, 11) },
			want: []auditevents.Problem{{Kind: auditevents.Removed, Seq: 29, Count: 1}}, pruned: 20,
		},
		{
			// A store that computes the leaves from the events cannot
			// give the deleted event's leaf: Verify reads the hash of its
			// tile of 16 instead.
			name: "deleted, its tile's leaves lost",
			edit: func(f *fakeLog) { f.entries = slices.Delete(f.entries, 30, 31); f.lost = map[int64]bool{1: true} },
			want: []auditevents.Problem{{Kind: auditevents.Removed, Seq: 30, Count: 1}},
		},
		{
			name:     "deleted, its tile's leaves lost, consistent with an earlier checkpoint",
			edit:     func(f *fakeLog) { f.entries = slices.Delete(f.entries, 30, 31); f.lost = map[int64]bool{1: true} },
			previous: cp60,
			want:     []auditevents.Problem{{Kind: auditevents.Removed, Seq: 30, Count: 1}},
		},
		{
			name: "deleted across two tiles, their leaves lost",
			edit: func(f *fakeLog) {
				f.entries = slices.Delete(f.entries, 14, 19)
				f.lost = map[int64]bool{0: true, 1: true}
			},
			want: []auditevents.Problem{{Kind: auditevents.Removed, Seq: 14, Count: 5}},
		},
		{
			name: "an event the store cannot read, its tile's leaves lost",
			edit: func(f *fakeLog) { f.damaged = 64; f.lost = map[int64]bool{4: true} },
			want: []auditevents.Problem{{Kind: auditevents.Modified, Seq: 64, Count: 1}},
		},
		{
			// The lost tile's hash stands for it, but another event
			// changed: the root differs, and the changed leaf cannot be
			// named against leaves the store cannot give.
			name: "deleted with its tile's leaves lost, and another changed",
			edit: func(f *fakeLog) {
				f.entries = slices.Delete(f.entries, 30, 31)
				f.entries[70].Event.User = "mallory@example.com"
				f.lost = map[int64]bool{1: true, 4: true}
			},
			want: []auditevents.Problem{{Kind: auditevents.Removed, Seq: 30, Count: 1}, {Kind: auditevents.Rewritten, Seq: -1}},
		},
		{
			name: "newest deleted",
			edit: func(f *fakeLog) { f.entries = f.entries[:n-3] },
			want: []auditevents.Problem{{Kind: auditevents.Removed, Seq: n - 3, Count: 3}},
		},
		{
			name: "deleted and the later ones renumbered",
			edit: func(f *fakeLog) { f.entries = renumber(slices.Delete(f.entries, 30, 31)) },
			want: []auditevents.Problem{
				{Kind: auditevents.Removed, Seq: 30, Count: 1},
				{Kind: auditevents.Moved, Seq: 30, Count: n - 31, Shift: 1},
			},
		},
		{
			name: "a second event for a sequence",
			edit: func(f *fakeLog) {
				extra := auditevents.Entry{Seq: 55, Event: events[n]}
				f.entries = slices.Insert(f.entries, 56, extra)
			},
			want: []auditevents.Problem{{Kind: auditevents.Inserted, Seq: 55, Count: 1}},
		},
		{
			name: "inserted and the later ones renumbered",
			edit: func(f *fakeLog) {
				f.entries = renumber(slices.Insert(f.entries, 55, auditevents.Entry{Event: events[n]}))
			},
			want: []auditevents.Problem{
				{Kind: auditevents.Inserted, Seq: 55, Count: 1},
				{Kind: auditevents.Moved, Seq: 56, Count: n - 56, Shift: -1},
			},
		},
		{
			name: "two swapped",
			edit: func(f *fakeLog) {
				f.entries[10].Event, f.entries[80].Event = f.entries[80].Event, f.entries[10].Event
			},
			want: []auditevents.Problem{
				{Kind: auditevents.Moved, Seq: 10, Count: 1, Shift: 70},
				{Kind: auditevents.Moved, Seq: 80, Count: 1, Shift: -70},
			},
		},
		{
			name: "event and its stored leaf changed together",
			edit: func(f *fakeLog) {
				f.entries[42].Event.User = "mallory@example.com"
				f.hashes[tlog.StoredHashIndex(0, 42)] = auditevents.LeafHash(42, &f.entries[42].Event)
			},
			want: []auditevents.Problem{{Kind: auditevents.Rewritten, Seq: -1}},
		},
		{
			name:     "replaced by an older backup",
			edit:     func(f *fakeLog) { *f = *half.clone() },
			latest:   cp60, // what the server signs now
			previous: cp,   // the auditor saved the checkpoint of size 100
			want:     []auditevents.Problem{{Kind: auditevents.RolledBack, Seq: 60, Size: n}},
		},
		{
			name:   "replaced by an older backup, checked against a saved checkpoint",
			edit:   func(f *fakeLog) { *f = *half.clone() },
			latest: cp,
			want:   []auditevents.Problem{{Kind: auditevents.RolledBack, Seq: 60, Size: n}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := orig.clone()
			tc.edit(f)
			check := cp
			if tc.latest != nil {
				check = tc.latest
			}
			rep, err := auditevents.Verify(ctx, f, auditevents.VerifyOptions{
				Verifier: verifier, Origin: "example.com/audit/acme", Checkpoint: check, Previous: tc.previous,
			})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if got := rep.PrunedCount(); got != tc.pruned {
					t.Errorf("pruned %d, want %d", got, tc.pruned)
				}
				return
			}
			var te *auditevents.TamperError
			if !errors.As(err, &te) || !errors.Is(err, auditevents.ErrTampered) {
				t.Fatalf("Verify = %v, want a TamperError", err)
			}
			got := slices.Clone(te.Problems)
			for i := range got {
				got[i].Detail = ""
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("problems:\n%v\nwant:\n%v", te, &auditevents.TamperError{Problems: tc.want})
			}
			if tc.pruned != 0 && rep.PrunedCount() != tc.pruned {
				t.Errorf("pruned %d, want %d", rep.PrunedCount(), tc.pruned)
			}
		})
	}
}

// Two checkpoints of one size with different roots are a fork, and so is a
// log rewritten and signed again after an earlier checkpoint.
func TestVerifyFork(t *testing.T) {
	ctx := context.Background()
	signer, verifier := testKeys(t)
	events := testEvents(50, "acme")
	f := newFakeLog(t, events)
	early := newFakeLog(t, events[:20]).checkpoint(t, signer)

	forged := slices.Clone(events)
	forged[5].User = "mallory@example.com"
	g := newFakeLog(t, forged) // rewritten from scratch, hashes and all
	resigned := g.checkpoint(t, signer)

	for _, tc := range []struct {
		name             string
		log              *fakeLog
		checkpoint, prev []byte
	}{
		{"same size, two roots", f, f.checkpoint(t, signer), resigned},
		{"rewritten and signed again", g, resigned, early},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditevents.Verify(ctx, tc.log, auditevents.VerifyOptions{Verifier: verifier, Checkpoint: tc.checkpoint, Previous: tc.prev})
			var te *auditevents.TamperError
			if !errors.As(err, &te) || len(te.Problems) == 0 || te.Problems[0].Kind != auditevents.Forked {
				t.Fatalf("Verify = %v, want a fork", err)
			}
			if !strings.Contains(err.Error(), "forked") {
				t.Errorf("message %q does not say forked", err)
			}
		})
	}
}

// An event that the store holds outside the log is reported by its ID.
func TestVerifyStrayEvents(t *testing.T) {
	signer, verifier := testKeys(t)
	events := testEvents(12, "acme")
	f := newFakeLog(t, events[:10])
	cp := f.checkpoint(t, signer)
	f.add(t, events[10]) // appended after the checkpoint: not a stray
	all := func(yield func(auditevents.AuditEvent, error) bool) {
		for _, e := range events { // events[11] has no sequence
			if !yield(e, nil) {
				return
			}
		}
	}
	_, err := auditevents.Verify(context.Background(), f, auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp, Events: all})
	var te *auditevents.TamperError
	if !errors.As(err, &te) || len(te.Problems) != 1 || !strings.Contains(te.Problems[0].String(), events[11].ID) {
		t.Fatalf("Verify = %v, want one insertion naming %s", err, events[11].ID)
	}
}

func TestVerifyBadCheckpoint(t *testing.T) {
	signer, verifier := testKeys(t)
	_, other := testKeys(t)
	f := newFakeLog(t, testEvents(3, "acme"))
	cp := f.checkpoint(t, signer)
	for _, opts := range []auditevents.VerifyOptions{
		{Verifier: other, Checkpoint: cp},
		{Verifier: verifier, Checkpoint: cp, Origin: "example.com/audit/other"},
		{Verifier: verifier, Checkpoint: []byte("garbage")},
		{Checkpoint: cp},
	} {
		if _, err := auditevents.Verify(context.Background(), f, opts); !errors.Is(err, auditevents.ErrCheckpoint) {
			t.Errorf("Verify = %v, want ErrCheckpoint", err)
		}
	}
}

// rolledBack is a store whose log of account "acme" holds only its first
// size sequences, as a store does once its file or tables were replaced by
// an older copy: like every store, it refuses to read the log from beyond
// its tree or hashes beyond it. When shrink is positive, the log holds all
// its sequences until a read of the whole log ends, and then only shrink:
// a rollback done while Verify runs.
type rolledBack struct {
	*memstore.Store
	size   atomic.Int64
	shrink int64
}

func (r *rolledBack) TreeSize(ctx context.Context, account string) (int64, error) {
	return r.size.Load(), nil
}

func (r *rolledBack) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		size := r.size.Load()
		if err := auditevents.CheckFrom(size, from); err != nil {
			yield(auditevents.Entry{}, err)
			return
		}
		for e, err := range r.Store.Entries(ctx, account, from) {
			if err == nil && e.Seq >= size {
				break
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
		if from == 0 && r.shrink > 0 {
			r.size.Store(r.shrink)
		}
	}
}

func (r *rolledBack) ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error) {
	if err := auditevents.CheckIndexes(r.size.Load(), indexes); err != nil {
		return nil, err
	}
	return r.Store.ReadHashes(ctx, account, indexes)
}

// A log rolled back below its checkpoint is reported as rolled back also
// when Verify is given the store's events (VerifyOptions.Events), which
// makes it read the log on from the checkpoint's size: before the
// rollback or while Verify runs, never an error reading the log.
func TestVerifyRolledBackWithEvents(t *testing.T) {
	ctx := context.Background()
	signer, verifier := testKeys(t)
	events := testEvents(50, "acme")
	for _, tt := range []struct {
		name   string
		size   int64 // what the log holds when Verify starts
		shrink int64
		want   auditevents.Problem
		says   string
	}{
		{"replaced by an older copy", 40, 0,
			auditevents.Problem{Kind: auditevents.RolledBack, Seq: 40, Size: 50},
			"rolled back: the log has 40 sequences, below the size 50 it had already signed"},
		{"replaced while Verify reads it", 50, 40,
			auditevents.Problem{Kind: auditevents.RolledBack, Seq: -1, Size: 50},
			"rolled back: the log no longer reaches the size 50 it had already signed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := memstore.New()
			defer s.Close()
			if err := s.Append(ctx, events...); err != nil {
				t.Fatal(err)
			}
			cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "acme", signer)
			if err != nil {
				t.Fatal(err)
			}
			l := &rolledBack{Store: s, shrink: tt.shrink}
			l.size.Store(tt.size)
			held := func(yield func(auditevents.AuditEvent, error) bool) { // the events the store holds
				for _, e := range events[:tt.size] {
					if !yield(e, nil) {
						return
					}
				}
			}
			_, err = auditevents.Verify(ctx, auditevents.AccountLog(l, "acme"), auditevents.VerifyOptions{
				Verifier: verifier, Origin: "example.com/audit/acme", Checkpoint: cp, Events: held,
			})
			var te *auditevents.TamperError
			if !errors.As(err, &te) {
				t.Fatalf("Verify = %v, want a TamperError", err)
			}
			if len(te.Problems) != 1 || te.Problems[0] != tt.want {
				t.Fatalf("problems:\n%v\nwant:\n%v", te, &auditevents.TamperError{Problems: []auditevents.Problem{tt.want}})
			}
			if got := te.Problems[0].String(); got != tt.says {
				t.Errorf("the problem says %q, want %q", got, tt.says)
			}
		})
	}
}

// shortHashes is a log whose ReadHashes returns one hash fewer than asked.
type shortHashes struct{ *fakeLog }

func (s shortHashes) ReadHashes(ctx context.Context, indexes []int64) ([]tlog.Hash, error) {
	hs, err := s.fakeLog.ReadHashes(ctx, indexes)
	if len(hs) > 0 {
		hs = hs[:len(hs)-1]
	}
	return hs, err
}

// A store that returns fewer hashes than asked fails Verify with an error
// saying so, whether Verify reads them for a pruned range, for the subtree
// around a range whose leaves are lost, or to name a changed event.
func TestVerifyShortHashes(t *testing.T) {
	ctx := context.Background()
	signer, verifier := testKeys(t)
	orig := newFakeLog(t, testEvents(100, "acme"))
	cp := orig.checkpoint(t, signer)
	for _, tc := range []struct {
		name string
		edit func(f *fakeLog)
	}{
		{"pruned", func(f *fakeLog) { f.prune(0, 37) }},
		{"deleted, its tile's leaves lost", func(f *fakeLog) { f.entries = slices.Delete(f.entries, 30, 31); f.lost = map[int64]bool{1: true} }},
		{"changed", func(f *fakeLog) { f.entries[42].Event.User = "mallory@example.com" }},
	} {
		f := orig.clone()
		tc.edit(f)
		_, err := auditevents.Verify(ctx, shortHashes{f}, auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp})
		if err == nil || !strings.Contains(err.Error(), "hashes read for") {
			t.Errorf("%s: Verify = %v, want an error saying too few hashes were read", tc.name, err)
		}
	}
}
