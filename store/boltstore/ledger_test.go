package boltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// ledgerKeys returns a signer and a verifier of the log "example.com/audit".
func ledgerKeys(tb testing.TB) (note.Signer, note.Verifier) {
	tb.Helper()
	skey, vkey, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		tb.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// accountEvents streams the events of one account that a full scan of the
// store finds, for VerifyOptions.Events: a scan, not an index, so that an
// event written into the events bucket alone shows.
func accountEvents(s *boltstore.Store, account string) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		for e, err := range s.Query(context.Background(), auditevents.Query{}) {
			if err != nil || e.Account == account {
				if !yield(e, err) {
					return
				}
			}
		}
	}
}

// verifyFile opens path read-only and verifies account-0's log against the
// checkpoint, as `auditevents verify -file` does.
func verifyFile(tb testing.TB, path string, verifier note.Verifier, checkpoint, previous []byte) (*auditevents.Report, error) {
	tb.Helper()
	s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		tb.Fatalf("opening the file read-only: %v", err)
	}
	defer s.Close()
	return auditevents.Verify(context.Background(), auditevents.AccountLog(s, "account-0"), auditevents.VerifyOptions{
		Verifier: verifier, Origin: "example.com/audit/account-0", Checkpoint: checkpoint, Previous: previous,
		Events: accountEvents(s, "account-0"),
	})
}

// keyOf returns the events bucket's key of e, as FORMAT.md describes it:
// the timestamp's microseconds with the sign bit flipped, then the ULID.
func keyOf(e auditevents.AuditEvent) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(e.Timestamp.UnixMicro())^(1<<63))
	id := ulid.MustParse(e.ID)
	return append(k, id[:]...)
}

// tamper edits the file at path with bbolt directly, as an attacker with
// write access to it would.
func tamper(tb testing.TB, path string, fn func(tx *bolt.Tx) error) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := db.Update(fn); err != nil {
		tb.Fatal(err)
	}
	if err := db.Close(); err != nil {
		tb.Fatal(err)
	}
}

func copyFile(tb testing.TB, from, to string) {
	tb.Helper()
	if err := os.WriteFile(to, readFile(tb, from), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// The log of a bbolt file verifies untouched, and every edit an attacker
// with bbolt makes to the file is found and named by its sequence.
// account-0 holds every third event, so event 3*i is its sequence i.
func TestLedgerTamper(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	orig := filepath.Join(dir, "audit.db")
	backup := filepath.Join(dir, "backup.db")
	events := testEvents(300)
	writeStore(t, orig, events[:270])
	copyFile(t, orig, backup) // 90 events of account-0
	s, err := boltstore.Open(orig, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events[270:]...); err != nil {
		t.Fatal(err)
	}
	signer, verifier := ledgerKeys(t)
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	seq := func(i int) auditevents.AuditEvent { return events[3*i] } // account-0's event at sequence i

	tests := []struct {
		name string
		edit func(tx *bolt.Tx) error
		want string // "" when the log verifies
	}{
		{"untouched", func(*bolt.Tx) error { return nil }, ""},
		{"a byte of an event changed", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			v := slices.Clone(b.Get(keyOf(seq(40))))
			v[len(v)-1] ^= 1 // in the description
			return b.Put(keyOf(seq(40)), v)
		}, "modified: the event at sequence 40"},
		{"a byte changed and the checksum fixed", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			v := slices.Clone(b.Get(keyOf(seq(41))))
			v[len(v)-1] ^= 1
			binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
			return b.Put(keyOf(seq(41)), v)
		}, "modified: the event at sequence 41"},
		{"a byte changed, the checksum and the leaf check fixed", func(tx *bolt.Tx) error {
			// The value, as FORMAT.md describes it: CRC-32C, the
			// sequence as a uvarint (one byte for 44), the leaf check
			// (the CRC-32C of the leaf record), then the fields, the
			// description last.
			b := tx.Bucket([]byte("events"))
			v := slices.Clone(b.Get(keyOf(seq(44))))
			v[len(v)-1] ^= 1
			changed := seq(44)
			d := []byte(changed.Description)
			d[len(d)-1] ^= 1
			changed.Description = string(d)
			binary.BigEndian.PutUint32(v[5:9], crc32.Checksum(auditevents.AppendLeaf(nil, 44, &changed), crc32.MakeTable(crc32.Castagnoli)))
			binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
			return b.Put(keyOf(seq(44)), v)
		}, "the events of sequences 32 to 47 of account \"account-0\" do not hash to the tree's stored hash of them"}, // the tile, not the event
		{"an event deleted", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("events")).Delete(keyOf(seq(42)))
		}, "removed: sequence 42"},
		{"an event inserted", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			forged := seq(43)
			forged.ID = ulid.MustNew(ulid.Timestamp(forged.Timestamp), strings.NewReader(strings.Repeat("x", 16))).String()
			return b.Put(keyOf(forged), slices.Clone(b.Get(keyOf(seq(43)))))
		}, "is stored without a sequence"},
		{"two events swapped", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("events"))
			v1, v2 := slices.Clone(b.Get(keyOf(seq(10)))), slices.Clone(b.Get(keyOf(seq(20))))
			if err := b.Put(keyOf(seq(10)), v2); err != nil {
				return err
			}
			return b.Put(keyOf(seq(20)), v1)
		}, "modified: the event at sequence 10 differs from what was signed\n\tmodified: the event at sequence 20"},
		{"two sequences swapped in the log", func(tx *bolt.Tx) error {
			// The sequence tiles, as FORMAT.md describes them: value
			// CRC-32C, then 16 event keys of 24 bytes.
			b := tx.Bucket([]byte("log"))
			tileKey := func(t uint64) []byte { return tileLogKey("account-0", 'q', t) }
			t0, t1 := slices.Clone(b.Get(tileKey(0))), slices.Clone(b.Get(tileKey(1)))
			a, c := t0[4+10*24:4+11*24], t1[4+(20-16)*24:4+(21-16)*24] // sequences 10 and 20
			tmp := slices.Clone(a)
			copy(a, c)
			copy(c, tmp)
			for _, t := range [][]byte{t0, t1} {
				binary.BigEndian.PutUint32(t, crc32.Checksum(t[4:], crc32.MakeTable(crc32.Castagnoli)))
			}
			if err := b.Put(tileKey(0), t0); err != nil {
				return err
			}
			return b.Put(tileKey(1), t1)
		}, "moved: the event at sequence 10 signed at sequence 20\n\tmoved: the event at sequence 20 signed at sequence 10"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			copyFile(t, orig, path)
			tamper(t, path, tc.edit)
			_, err := verifyFile(t, path, verifier, cp, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Verify of the untouched file: %v", err)
				}
				return
			}
			if !errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Verify = %v\nwant it to say %q", err, tc.want)
			}
		})
	}

	// Check, which needs no key, finds the edits that break the log's
	// bookkeeping too, and every event that no longer holds its sequence
	// and leaf check.
	for _, name := range []string{"an event deleted", "an event inserted", "a byte of an event changed", "a byte changed and the checksum fixed", "two events swapped", "two sequences swapped in the log"} {
		t.Run("Check/"+name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			copyFile(t, orig, path)
			for _, tc := range tests {
				if tc.name == name {
					tamper(t, path, tc.edit)
				}
			}
			s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(ctx); !errors.Is(err, boltstore.ErrCorrupt) {
				t.Errorf("Check = %v, want ErrCorrupt", err)
			}
		})
	}

	// Lookup returns the event the log signed, or ErrCorrupt: never an
	// event changed or moved since, under its ID and sequence.
	for _, lc := range []struct {
		name string
		id   string
	}{
		{"a byte of an event changed", seq(40).ID},
		{"a byte changed and the checksum fixed", seq(41).ID},
		{"two events swapped", seq(10).ID},
		{"two sequences swapped in the log", seq(20).ID},
	} {
		t.Run("Lookup/"+lc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			copyFile(t, orig, path)
			for _, tc := range tests {
				if tc.name == lc.name {
					tamper(t, path, tc.edit)
				}
			}
			s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if e, err := s.Lookup(ctx, lc.id); !errors.Is(err, boltstore.ErrCorrupt) {
				t.Errorf("Lookup(%s) = sequence %d, %q, %v; want ErrCorrupt", lc.id, e.Seq, e.Event.Description, err)
			}
			if e, err := s.Lookup(ctx, seq(50).ID); err != nil || e.Seq != 50 || !e.Event.Equal(&events[3*50]) {
				t.Errorf("Lookup of the untouched sequence 50 = %d, %v; want it", e.Seq, err)
			}
		})
	}

	t.Run("replaced by an older backup", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "audit.db")
		copyFile(t, backup, path)
		_, err := verifyFile(t, path, verifier, cp, nil)
		if !errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), "rolled back: the log has 90 sequences, below the size 100") {
			t.Fatalf("Verify = %v, want a rollback from 100 to 90", err)
		}
	})
}

// An append onto a tree that was changed outside the store fails with
// ErrCorrupt and writes nothing, rather than extend a tree that no longer
// matches the events, as in pgstore (ErrInconsistent there). account-0
// holds every third event.
func TestLedgerAppendAfterTamper(t *testing.T) {
	ctx := context.Background()
	events := testEvents(301)
	orig := filepath.Join(t.TempDir(), "audit.db")
	writeStore(t, orig, events[:300]) // account-0's last leaf tile, 6, holds sequences 96 to 99
	tileKey := tileLogKey("account-0", 'l', 6)
	for _, tt := range []struct {
		name string
		edit func(tx *bolt.Tx) error
	}{
		{"the last leaf tile deleted", func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("log")).Delete(tileKey)
		}},
		{"the last leaf tile cut short, its checksum made right", func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("log"))
			v := slices.Clone(b.Get(tileKey))
			v = v[:len(v)-32]
			binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
			return b.Put(tileKey, v)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			copyFile(t, orig, path)
			tamper(t, path, tt.edit)
			s, err := boltstore.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Append(ctx, events[300]); !errors.Is(err, boltstore.ErrCorrupt) {
				t.Errorf("Append onto the changed tree: %v, want ErrCorrupt", err)
			}
			if n, err := s.TreeSize(ctx, "account-0"); err != nil || n != 100 {
				t.Errorf("TreeSize after the failed append = %d, %v; want 100", n, err)
			}
		})
	}
}

// A file of format 2, made before the verifiable log, is upgraded on open:
// its events get sequences in their stored order and the tree is built.
func TestUpgradeFormat2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, filepath.Join("testdata", "format2.db"), path)

	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) || !strings.Contains(err.Error(), "without ReadOnly to upgrade") {
		t.Fatalf("read-only Open of a format 2 file = %v, want ErrOlderFormat saying how to upgrade", err)
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a format 2 file: %v", err)
	}
	defer s.Close()
	stored, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(stored) // oldest first: the stored order
	byAccount := make(map[string][]auditevents.AuditEvent)
	for _, e := range stored {
		byAccount[e.Account] = append(byAccount[e.Account], e)
	}
	signer, verifier := ledgerKeys(t)
	for account, want := range byAccount {
		var got []string
		for e, err := range s.Entries(ctx, account, 0) {
			if err != nil {
				t.Fatal(err)
			}
			if e.Seq != int64(len(got)) {
				t.Fatalf("account %q: entry %d has sequence %d", account, len(got), e.Seq)
			}
			got = append(got, e.Event.ID)
		}
		var wantIDs []string
		for _, e := range want {
			wantIDs = append(wantIDs, e.ID)
		}
		if !slices.Equal(got, wantIDs) {
			t.Errorf("account %q: sequences hold %d events not in stored order", account, len(got))
		}
		cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", account, signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, account), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}); err != nil {
			t.Errorf("account %q after the upgrade: %v", account, err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if len(byAccount) < 2 {
		t.Fatalf("the golden file holds %d accounts; the test wants several", len(byAccount))
	}
}

func TestReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(10)
	writeStore(t, path, events)
	before := readFile(t, path)
	s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(context.Background(), testEvents(11)[10]); !errors.Is(err, boltstore.ErrReadOnly) {
		t.Errorf("Append = %v, want ErrReadOnly", err)
	}
	if _, err := s.Prune(context.Background(), events[9].Timestamp); !errors.Is(err, boltstore.ErrReadOnly) {
		t.Errorf("Prune = %v, want ErrReadOnly", err)
	}
	if n, err := s.TreeSize(context.Background(), "account-1"); err != nil || n != 3 {
		t.Errorf("TreeSize = %d, %v; want 3", n, err)
	}
	s.Close()
	if string(readFile(t, path)) != string(before) {
		t.Error("a read-only store changed the file")
	}
	if _, err := boltstore.Open(filepath.Join(t.TempDir(), "none.db"), &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrNotStore) {
		t.Errorf("read-only Open of a missing file = %v, want ErrNotStore", err)
	}
}

// crashCheckpoints keeps, across the rounds of TestCrash, the last
// checkpoint of each account, so that each round checks the log still
// holds what earlier rounds signed.
var crashCheckpoints = struct {
	signer   note.Signer
	verifier note.Verifier
	saved    map[string][]byte
}{saved: make(map[string][]byte)}

// verifyLogs checks, after a kill, that every account's log verifies
// against a checkpoint made now and against the one made after the previous
// kill, and that every acknowledged event has a sequence.
func verifyLogs(tb testing.TB, s *boltstore.Store, acked map[string]int64) {
	tb.Helper()
	ctx := context.Background()
	if crashCheckpoints.signer == nil {
		crashCheckpoints.signer, crashCheckpoints.verifier = ledgerKeys(tb)
	}
	for account, err := range s.Accounts(ctx) {
		if err != nil {
			tb.Fatal(err)
		}
		cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", account, crashCheckpoints.signer)
		if err != nil {
			tb.Fatal(err)
		}
		_, err = auditevents.Verify(ctx, auditevents.AccountLog(s, account), auditevents.VerifyOptions{
			Verifier: crashCheckpoints.verifier, Checkpoint: cp, Previous: crashCheckpoints.saved[account],
			Events: accountEvents(s, account),
		})
		if err != nil {
			tb.Fatalf("the log of account %q after the kill: %v", account, err)
		}
		crashCheckpoints.saved[account] = cp
	}
	for id := range acked {
		if _, err := s.Lookup(ctx, id); err != nil {
			tb.Fatalf("acknowledged event %s has no sequence after the kill: %v", id, err)
		}
	}
}

// Retention keeps what proofs need: after Prune the log verifies against a
// checkpoint made before it, reporting the pruned prefix as pruned, while an
// event deleted inside the retained range is still named.
func TestLedgerPruneVerifies(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events...); err != nil {
		t.Fatal(err)
	}
	signer, verifier := ledgerKeys(t)
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(ctx, events[60].Timestamp); err != nil || n != 60 {
		t.Fatalf("Prune = %d, %v; want 60", n, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rep, err := verifyFile(t, path, verifier, cp, nil)
	if err != nil {
		t.Fatalf("Verify after Prune: %v", err)
	}
	if got := rep.PrunedCount(); got != 20 || len(rep.Pruned) != 1 || rep.Pruned[0].Seq != 0 {
		t.Errorf("pruned %d sequences in %v, want the prefix of 20", got, rep.Pruned)
	}
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Delete(keyOf(events[3*50])) // account-0's sequence 50
	})
	if _, err := verifyFile(t, path, verifier, cp, nil); !errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), "removed: sequence 50 missing") {
		t.Errorf("Verify after a deletion in the retained range = %v, want sequence 50 removed", err)
	}
}

// An account that no event can hold (it has a NUL byte) has an empty log,
// whatever the bytes of its name: its key could otherwise name a tile of
// another account's tree, and an intact file be reported as corrupt.
func TestLedgerAccountWithNUL(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	rec := auditevents.NewRecorder(s, nil)
	var batch []auditevents.AuditEvent
	for i := range 2000 {
		batch = append(batch, auditevents.AuditEvent{Account: "a", User: "alice", Action: auditevents.ActionCreated,
			ResourceKind: auditevents.KindAgent, ResourceName: "agent-" + strings.Repeat("x", i%7)})
	}
	if err := rec.Record(ctx, batch...); err != nil {
		t.Fatal(err)
	}
	for _, account := range []string{"a\x00", "a\x00l\x00\x00\x00\x00\x00\x00", "a\x00t\x00\x00\x00\x00\x00\x00\x00\x07"} {
		if n, err := s.TreeSize(ctx, account); n != 0 || err != nil {
			t.Errorf("TreeSize(%q) = %d, %v; want 0, nil", account, n, err)
		}
		for e, err := range s.Entries(ctx, account, 0) {
			t.Errorf("Entries(%q) yielded %+v, %v; want nothing", account, e, err)
		}
		if err := s.SetPosition(ctx, "webhook", account, 0); err != nil {
			t.Errorf("SetPosition(%q, 0) = %v, want nil", account, err)
		}
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// mth returns the RFC 6962 Merkle tree hash of leaves, computed plainly by
// its definition: the model the store's tree is checked against.
func mth(leaves []tlog.Hash) tlog.Hash {
	switch len(leaves) {
	case 0:
		h, _ := tlog.TreeHash(0, nil)
		return h
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return tlog.NodeHash(mth(leaves[:k]), mth(leaves[k:]))
}

// tileLogKey returns the log key of an account's tile t of the kind ('l'
// for a leaf tile, 'q' for a sequence tile), as FORMAT.md describes it:
// the account, 0, the tile number as the key's group, the kind.
func tileLogKey(account string, kind byte, t uint64) []byte {
	return append(binary.BigEndian.AppendUint64([]byte(account+"\x00"), t), kind)
}

// leafTiles returns, by account, the tile numbers of the leaf tiles that
// the file at path keeps: the keys account, 0, tile, 'l' of the log
// bucket, as FORMAT.md describes them, or in a file of format 3 to 6, the
// keys account, 0, 'l', tile.
func leafTiles(tb testing.TB, path string) map[string][]uint64 {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	out := make(map[string][]uint64)
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("log")).ForEach(func(k, _ []byte) error {
			i := strings.IndexByte(string(k), 0)
			switch {
			case i < 0 || len(k) != i+10:
			case k[i+1] == 'l': // format 3 to 6
				out[string(k[:i])] = append(out[string(k[:i])], binary.BigEndian.Uint64(k[i+2:]))
			case k[i+9] == 'l':
				out[string(k[:i])] = append(out[string(k[:i])], binary.BigEndian.Uint64(k[i+1:]))
			}
			return nil
		})
	})
	return out
}

// A file of format 4 or 5, which kept every leaf and each sequence in the
// ids bucket, is upgraded on a writable Open: every event keeps its
// sequence, its fields (a format 5 event's actor fields included) and every
// tree its root, the leaves of complete tiles are dropped, and the
// positions stay. A read-only Open refuses it, saying how to upgrade.
func TestUpgradeFormat4(t *testing.T) { testUpgradeKeptLeaves(t, 4) }

// TestUpgradeFormat5 is TestUpgradeFormat4 for a file of format 5, whose
// events carry actor fields at the end of their values.
func TestUpgradeFormat5(t *testing.T) { testUpgradeKeptLeaves(t, 5) }

// A file of format 6, whose log keys put the kind before the number, or of
// format 7, whose hot bucket keeps an entry per index and event, is
// upgraded on a writable Open: afterwards every bucket holds, byte for
// byte, what a new file of the current format holds after the same appends
// (the committed golden dump, written from the same events), and Check
// passes. A read-only Open refuses it, saying how to upgrade, and changes
// nothing.
func TestUpgradeFormat6And7(t *testing.T) {
	for _, version := range []int{6, 7} {
		t.Run(fmt.Sprintf("format%d", version), func(t *testing.T) { testUpgradeToSame(t, version) })
	}
}

func testUpgradeToSame(t *testing.T, version int) {
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, filepath.Join("testdata", fmt.Sprintf("format%d.db", version)), path)
	before := readFile(t, path)
	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) || !strings.Contains(err.Error(), fmt.Sprintf("format version %d; open it once without ReadOnly to upgrade it to format version %d", version, formatVersion(t))) {
		t.Fatalf("read-only Open of a format %d file = %v, want ErrOlderFormat saying how to upgrade", version, err)
	}
	if string(readFile(t, path)) != string(before) {
		t.Fatal("a read-only Open changed the file")
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a format %d file: %v", version, err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("Check after the upgrade: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("format%d.dump", formatVersion(t))))
	if err != nil {
		t.Fatal(err)
	}
	if got := dump(t, path); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		t.Fatalf("the upgraded file differs from a new one of the same events, line %d:\n got %s\nwant %s", i+1, at(gl, i), at(wl, i))
	}
}

func testUpgradeKeptLeaves(t *testing.T, version int) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, filepath.Join("testdata", fmt.Sprintf("format%d.db", version)), path)
	before := readFile(t, path)
	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) || !strings.Contains(err.Error(), fmt.Sprintf("format version %d; open it once without ReadOnly to upgrade it to format version %d", version, formatVersion(t))) {
		t.Fatalf("read-only Open of a format %d file = %v, want ErrOlderFormat saying how to upgrade", version, err)
	}
	if string(readFile(t, path)) != string(before) {
		t.Fatal("a read-only Open changed the file")
	}
	if got := leafTiles(t, path)["account-0"]; len(got) < 2 {
		t.Fatalf("the format %d file keeps leaf tiles %v of account-0; the test wants several", version, got)
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a format %d file: %v", version, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	events := goldenEventsOf(version) // appended in this order to the golden file
	queries := []auditevents.Query{{}, {User: "user-2"}, {Account: ptr("account-1")}}
	if version >= 5 {
		queries = append(queries, auditevents.Query{RequestID: "req-3"}, auditevents.Query{IPAddress: netip.MustParsePrefix("192.0.2.0/24")}, auditevents.Query{IPAddress: netip.MustParsePrefix("2001:db8::/32")})
	}
	boltstore.CheckQueries(t, s, events, queries, fmt.Sprintf("upgraded format %d file", version))
	byAccount := make(map[string][]auditevents.AuditEvent)
	for _, e := range events {
		byAccount[e.Account] = append(byAccount[e.Account], e)
	}
	signer, verifier := ledgerKeys(t)
	for account, want := range byAccount {
		leaves := make([]tlog.Hash, len(want))
		for i := range want {
			leaves[i] = auditevents.LeafHash(int64(i), &want[i])
			if got, err := s.Lookup(ctx, want[i].ID); err != nil || got.Seq != int64(i) {
				t.Errorf("Lookup(%s) = sequence %d, %v; want %d", want[i].ID, got.Seq, err, i)
			}
		}
		cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", account, signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, account), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}); err != nil {
			t.Errorf("account %q after the upgrade: %v", account, err)
		}
		c, err := auditevents.OpenCheckpoint(cp, verifier, "")
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != int64(len(want)) || c.Hash != mth(leaves) {
			t.Errorf("account %q after the upgrade: tree of size %d, root %x; want %d, %x", account, c.Size, c.Hash, len(want), mth(leaves))
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := formatOf(t, path), formatVersion(t); int(got) != want {
		t.Errorf("the upgraded file has format version %d, want %d", got, want)
	}
	// Only the incomplete last tile of each account keeps its leaves.
	tiles := leafTiles(t, path)
	for account, want := range byAccount {
		var wantTiles []uint64
		if len(want)%16 != 0 {
			wantTiles = []uint64{uint64(len(want) / 16)}
		}
		if got := tiles[account]; !slices.Equal(got, wantTiles) {
			t.Errorf("account %q of %d events keeps leaf tiles %v after the upgrade, want %v", account, len(want), got, wantTiles)
		}
	}
	s, err = boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantGoldenPositions(t, s)
}

// The file keeps the leaves of a tile only while it is the incomplete last
// tile of its account, or once Prune deleted one of its events: Prune writes
// the tile's leaves before it deletes the events, so that the tree and its
// proofs stay, and an append that completes a tile with a pruned event keeps
// its leaves. account-0 holds every third event, so event 3*i is its
// sequence i.
func TestLeafTilesKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300)
	writeStore(t, path, events[:285]) // account-0: sequences 0 to 94, tile 5 incomplete
	if got, want := leafTiles(t, path)["account-0"], []uint64{5}; !slices.Equal(got, want) {
		t.Fatalf("after the appends account-0 keeps leaf tiles %v, want %v", got, want)
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, verifier := ledgerKeys(t)
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	// Prune sequences 0 to 19 of account-0 (tiles 0 and 1) and 0 to 19
	// of the others: tiles 0 and 1 keep their leaves.
	if n, err := s.Prune(ctx, events[60].Timestamp); err != nil || n != 60 {
		t.Fatalf("Prune = %d, %v; want 60", n, err)
	}
	// Complete tile 5, then append into tile 6.
	if err := s.Append(ctx, events[285:]...); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := leafTiles(t, path)["account-0"], []uint64{0, 1, 6}; !slices.Equal(got, want) {
		t.Errorf("after Prune and the appends account-0 keeps leaf tiles %v, want %v", got, want)
	}
	rep, err := verifyFile(t, path, verifier, cp, nil)
	if err != nil {
		t.Fatalf("Verify after Prune against the checkpoint made before: %v", err)
	}
	if got := rep.PrunedCount(); got != 20 {
		t.Errorf("pruned %d sequences, want 20", got)
	}
	// An event of the pruned tile deleted after pruning: named, from
	// the kept leaves.
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Delete(keyOf(events[3*25])) // account-0's sequence 25
	})
	if _, err := verifyFile(t, path, verifier, cp, nil); !errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), "removed: sequence 25 missing") {
		t.Errorf("Verify after a deletion in a pruned tile = %v, want sequence 25 removed", err)
	}
}

// Prune keeps the leaves of a tile computed from its events, and so
// refuses, with ErrCorrupt, to prune from a tile whose events were changed
// outside the store, rather than keep leaves that the tree does not hold:
// none of that tile's events is deleted, and the other accounts' events
// are (TestPruneDamagedTile follows the tile until it is pruned whole).
func TestPruneKeepsChangedTile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300)
	writeStore(t, path, events)
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Delete(keyOf(events[3*5])) // account-0's sequence 5, in tile 0
	})
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Sequence 0 of each account.
	if n, err := s.Prune(ctx, events[3].Timestamp); !errors.Is(err, boltstore.ErrCorrupt) || n != 2 {
		t.Errorf("Prune from a changed tile = %d, %v; want 2 (those of account-1 and account-2), ErrCorrupt", n, err)
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil || len(got) != 297 || !slices.ContainsFunc(got, func(e auditevents.AuditEvent) bool { return e.ID == events[0].ID }) {
		t.Errorf("after the Prune the store holds %d events, %v; want 297, account-0's sequence 0 among them", len(got), err)
	}
}

// An event of a format 4 file changed before the upgrade stays named after
// it: its tile, whose events no longer give its leaves, keeps them.
func TestUpgradeFormat4Tampered(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, filepath.Join("testdata", "format4.db"), path)
	var account0 []auditevents.AuditEvent // in append order: event i is sequence i
	for _, e := range goldenEvents() {
		if e.Account == "account-0" {
			account0 = append(account0, e)
		}
	}
	var leaves []tlog.Hash
	for i := range account0 {
		leaves = append(leaves, auditevents.LeafHash(int64(i), &account0[i]))
	}
	signer, verifier := ledgerKeys(t)
	cp, err := auditevents.SignCheckpoint(auditevents.Checkpoint{Origin: "example.com/audit/account-0", Size: int64(len(leaves)), Hash: mth(leaves)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	tamper(t, path, func(tx *bolt.Tx) error {
		// A format 4 value: CRC-32C, then the fields, the description last.
		b := tx.Bucket([]byte("events"))
		v := slices.Clone(b.Get(keyOf(account0[20])))
		v[len(v)-1] ^= 1
		binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
		return b.Put(keyOf(account0[20]), v)
	})
	s, err := boltstore.Open(path, nil) // upgrades
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := leafTiles(t, path)["account-0"]; !slices.Contains(got, 1) {
		t.Errorf("account-0 keeps leaf tiles %v after the upgrade; want tile 1, of the changed event, among them", got)
	}
	if _, err := verifyFile(t, path, verifier, cp, nil); !errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), "modified: the event at sequence 20 differs") {
		t.Errorf("Verify after the upgrade = %v, want sequence 20 modified", err)
	}
}

// One event of a complete tile removed outside the store cannot stop
// retention: Prune deletes every other event it should, of every account,
// keeps the tile's events until all of them still stored are old enough
// and says which tile it left; then it prunes the tile whole, without its
// leaves, which cannot be computed again (its node of level 4 stands for
// it). Users rely on both: the file stops growing, and the removal stays
// visible: Verify still names the removed sequence (its slot keeps its key,
// so it is not reported as pruned), Check still fails, and the proofs of
// the other tiles are unchanged.
func TestPruneDamagedTile(t *testing.T) {
	ctx := context.Background()
	signer, verifier := ledgerKeys(t)
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300) // 100 sequences in each of 3 accounts
	writeStore(t, path, events)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	cp1, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-1", signer)
	if err != nil {
		t.Fatal(err)
	}
	root, err := tlog.TreeHash(100, auditevents.Hashes(ctx, s, "account-0"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tamper(t, path, func(tx *bolt.Tx) error {
		k := keyOf(events[3*5]) // account-0 sequence 5, tile 0
		return tx.Bucket([]byte("events")).Delete(k)
	})
	const removed = "auditevents: log does not verify\n\tremoved: sequence 5 missing (not pruned)"
	s, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Sequences 0 to 9 of each account are old enough: the 9 stored of
	// account-0's damaged tile stay, the 20 of the other accounts go.
	n, err := s.Prune(ctx, events[30].Timestamp)
	if got, want := n, 20; got != want {
		t.Errorf("Prune of sequences 0 to 9 deleted %d events, want %d", got, want)
	}
	if !errors.Is(err, boltstore.ErrCorrupt) || !strings.Contains(err.Error(), `sequences 0 to 15 of account "account-0"`) {
		t.Errorf("Prune of sequences 0 to 9 = %v, want ErrCorrupt naming account-0's sequences 0 to 15", err)
	}
	if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, "account-0"), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp, Events: accountEvents(s, "account-0")}); err == nil || err.Error() != removed {
		t.Errorf("Verify after the first prune = %v, want %q", err, removed)
	}

	// Every event of the tile still stored is old enough: it goes whole.
	n, err = s.Prune(ctx, events[200].Timestamp)
	if err != nil {
		t.Fatalf("Prune of sequences 0 to 66: %v", err)
	}
	if got, want := n, 200-20-1; got != want {
		t.Errorf("Prune of sequences 0 to 66 deleted %d events, want %d", got, want)
	}
	rep, err := auditevents.Verify(ctx, auditevents.AccountLog(s, "account-0"), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp, Events: accountEvents(s, "account-0")})
	if err == nil || err.Error() != removed {
		t.Errorf("Verify after the whole tile's prune = %v, want %q", err, removed)
	}
	if rep != nil {
		if got, want := rep.PrunedCount(), int64(66); got != want {
			t.Errorf("Verify reports %d sequences pruned, want %d (0 to 66 but the removed 5)", got, want)
		}
	}
	if err := s.Check(ctx); !errors.Is(err, boltstore.ErrCorrupt) {
		t.Errorf("Check after the prune = %v, want ErrCorrupt", err) // the removed event's index entries, first
	}
	if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, "account-1"), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp1, Events: accountEvents(s, "account-1")}); err != nil {
		t.Errorf("Verify of account-1 after the prune: %v", err)
	}
	for _, seq := range []int64{66, 67, 80, 99} {
		p, err := auditevents.ProveInclusion(ctx, s, "account-0", seq, 100)
		if err != nil {
			t.Fatalf("inclusion of sequence %d: %v", seq, err)
		}
		hs, err := s.ReadHashes(ctx, "account-0", []int64{tlog.StoredHashIndex(0, seq)})
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, 100, root, seq, hs[0]); err != nil {
			t.Errorf("inclusion of sequence %d: %v", seq, err)
		}
	}
	if _, err := auditevents.ProveConsistency(ctx, s, "account-0", 48, 100); err != nil {
		t.Errorf("consistency from 48: %v", err)
	}
}

// An event stored with bbolt under the ID of a logged event, at another
// time (another events key) and with other content, is not the logged
// event: Verify with Events reports it as inserted, and Lookup, whose
// answer the inclusion endpoint proves, refuses it with ErrCorrupt even
// when the ids entry was moved to it, rather than answer it as the event
// the log signed at that sequence. Users rely on Lookup's event being the
// signed one.
func TestDuplicateIDInsert(t *testing.T) {
	ctx := context.Background()
	signer, verifier := ledgerKeys(t)
	events := testEvents(300)
	path, cp := signedFile(t, events, signer)
	orig := events[3*43] // account-0's sequence 43
	forged := orig
	forged.Timestamp = orig.Timestamp.Add(time.Microsecond)
	tamper(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("events"))
		// The same value (sequence, leaf check, fields) under the other
		// key, its description's last byte changed and its CRC fixed.
		v := slices.Clone(b.Get(keyOf(orig)))
		v[len(v)-1] ^= 1
		binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
		if err := b.Put(keyOf(forged), v); err != nil {
			return err
		}
		return tx.Bucket([]byte("ids")).Put(keyOf(forged)[8:], keyOf(forged)[:8])
	})
	rep, err := verifyFile(t, path, verifier, cp, nil)
	if !errors.Is(err, auditevents.ErrTampered) {
		t.Fatalf("Verify with Events = %v, want ErrTampered", err)
	}
	if len(rep.Problems) != 1 || rep.Problems[0].Kind != auditevents.Inserted || !strings.Contains(rep.Problems[0].Detail, orig.ID) {
		t.Errorf("Verify reports %v, want the event with %s's ID inserted", rep.Problems, orig.ID)
	}
	s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if e, err := s.Lookup(ctx, orig.ID); !errors.Is(err, boltstore.ErrCorrupt) {
		t.Errorf("Lookup(%s) = sequence %d, %q at %v, %v; want ErrCorrupt", orig.ID, e.Seq, e.Event.Description, e.Event.Timestamp, err)
	}
	if e, err := s.Lookup(ctx, events[3*44].ID); err != nil || e.Seq != 44 || !e.Event.Equal(&events[3*44]) {
		t.Errorf("Lookup of sequence 44 = %d, %v; want it", e.Seq, err)
	}
}

// An event removed from a complete tile that a checkpoint's size splits
// (sequences 32 to 47, size 40): the root of size 40 needs the hash of
// sequences 32 to 39, which the store computes from the events and so
// cannot give. Verify reports the removal alone, saying on it that the
// root could not be recomputed, and no false rewrite of the tree: users
// rely on the report naming what was done to the log, whether the size
// is the checkpoint's or that of Previous.
func TestVerifySizeInsideDamagedTile(t *testing.T) {
	ctx := context.Background()
	signer, verifier := ledgerKeys(t)
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300)
	writeStore(t, path, events[:3*40]) // 40 sequences in account-0
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	prev, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events[3*40:]...); err != nil {
		t.Fatal(err)
	}
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("events")).Delete(keyOf(events[3*35]))
	})
	const (
		removed = "auditevents: log does not verify\n\tremoved: sequence 35 missing (not pruned)"
		note40  = "; the root of size 40 cannot be recomputed: the hashes of sequences 32 to 39 are unavailable"
	)
	for _, tt := range []struct {
		name             string
		checkpoint, prev []byte
		want             string
	}{
		{"the checkpoint, with Previous of size 40", cp, prev, removed + note40},
		{"the checkpoint alone", cp, nil, removed},
		{"the checkpoint of size 40", prev, nil, removed + note40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := verifyFile(t, path, verifier, tt.checkpoint, tt.prev)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Verify = %v, want %q", err, tt.want)
			}
			if rep != nil {
				for _, p := range rep.Problems {
					if p.Kind == auditevents.Rewritten {
						t.Errorf("Verify reports the tree rewritten: %v", p)
					}
				}
			}
		})
	}
}

// A leaf tile of a complete tile that holds fewer than 16 leaves (its CRC
// fixed) is damage, not leaves to trust: reads of its hashes return
// ErrCorrupt. And Check finds a tile of either kind anywhere beyond the
// tree's size, not only the one just past it. Users rely on Check and the
// proofs not to take a damaged log for a sound one.
func TestShortLeafTileAndStrayTiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300) // 100 sequences in account-0: tiles 0 to 6, the last of 4
	writeStore(t, path, events)
	fix := func(v []byte) []byte {
		binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
		return v
	}
	for _, tt := range []struct {
		name  string
		kind  string
		tile  uint64
		items int
		read  int64 // a sequence whose leaf is read, or -1
	}{
		{"15 leaves for a complete tile", "l", 2, 15, 40},
		{"a leaf tile far beyond the size", "l", 9, 16, -1},
		{"a sequence tile far beyond the size", "q", 12, 3, -1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "audit.db")
			copyFile(t, path, p)
			width := 24
			if tt.kind == "l" {
				width = 32
			}
			tamper(t, p, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("log")).Put(tileLogKey("account-0", tt.kind[0], tt.tile), fix(make([]byte, 4+tt.items*width)))
			})
			s, err := boltstore.Open(p, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(ctx); !errors.Is(err, boltstore.ErrCorrupt) {
				t.Errorf("Check = %v, want ErrCorrupt", err)
			}
			if tt.read >= 0 {
				if _, err := s.ReadHashes(ctx, "account-0", []int64{tlog.StoredHashIndex(0, tt.read)}); !errors.Is(err, boltstore.ErrCorrupt) {
					t.Errorf("ReadHashes of sequence %d = %v, want ErrCorrupt", tt.read, err)
				}
			}
		})
	}
}

// The kept leaf tile of a partly pruned tile deleted with bbolt: the
// store's hashes of the pruned sequences are gone, and no stored hash may
// stand for the tile's retained events instead (they would go unchecked).
// Verify fails rather than pass: users rely on a pruned run never hiding
// the events beside it.
func TestPrunedLeafTileDeleted(t *testing.T) {
	ctx := context.Background()
	signer, verifier := ledgerKeys(t)
	events := testEvents(300)
	path, cp := signedFile(t, events, signer)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(ctx, events[3*20].Timestamp); err != nil { // sequences 0 to 19: tile 1 partly
		t.Fatal(err)
	}
	s.Close()
	if _, err := verifyFile(t, path, verifier, cp, nil); err != nil {
		t.Fatalf("Verify after the prune: %v", err)
	}
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("log")).Delete(tileLogKey("account-0", 'l', 1))
	})
	if _, err := verifyFile(t, path, verifier, cp, nil); err == nil {
		t.Error("Verify passes after the kept leaf tile of a partly pruned tile was deleted")
	}
}

// signedFile writes events to a new store file and returns its path and a
// checkpoint of account-0's log signed by signer.
func signedFile(tb testing.TB, events []auditevents.AuditEvent, signer note.Signer) (string, []byte) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "audit.db")
	writeStore(tb, path, events)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	cp, _, err := auditevents.MakeCheckpoint(context.Background(), s, "example.com/audit", "account-0", signer)
	if err != nil {
		tb.Fatal(err)
	}
	return path, cp
}
