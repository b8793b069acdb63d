package boltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
	"github.com/auditevents/auditevents/store/storetest"
)

// A store opened with NoLog keeps the whole Store contract; wrapped so that
// the suite sees a Store without the Ledger methods it does not serve.
func TestConformanceNoLog(t *testing.T) {
	storetest.Run(t, func(tb testing.TB) auditevents.Store {
		return struct{ auditevents.Store }{openTemp(tb, &boltstore.Options{NoLog: true})}
	})
}

// fileFormat reads the format version and whether the log bucket exists
// with bbolt directly, as FORMAT.md describes them.
func fileFormat(tb testing.TB, path string) (version uint32, hasLog bool) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		version = binary.BigEndian.Uint32(tx.Bucket([]byte("meta")).Get([]byte("format")))
		hasLog = tx.Bucket([]byte("log")) != nil
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return version, hasLog
}

// NoLog writes format 2, without the log; its Ledger methods say so; the
// file opens read-only with NoLog; opening it without NoLog upgrades it to a
// log that verifies; and a file with the log is refused by NoLog, since
// events appended outside the log would break its proofs.
func TestNoLog(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(30)
	s, err := boltstore.Open(path, &boltstore.Options{NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events[:20]...); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events[20:]...); err != nil {
		t.Fatal(err)
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil || len(got) != len(events) {
		t.Fatalf("Query = %d events, %v; want %d", len(got), err, len(events))
	}
	if _, err := s.TreeSize(ctx, "account-0"); !errors.Is(err, boltstore.ErrNoLog) {
		t.Errorf("TreeSize = %v, want ErrNoLog", err)
	}
	if _, err := s.ReadHashes(ctx, "account-0", []int64{0}); !errors.Is(err, boltstore.ErrNoLog) {
		t.Errorf("ReadHashes = %v, want ErrNoLog", err)
	}
	if _, err := s.Lookup(ctx, events[0].ID); !errors.Is(err, boltstore.ErrNoLog) {
		t.Errorf("Lookup = %v, want ErrNoLog", err)
	}
	for _, err := range s.Accounts(ctx) {
		if !errors.Is(err, boltstore.ErrNoLog) {
			t.Errorf("Accounts yields %v, want ErrNoLog", err)
		}
	}
	for _, err := range s.Entries(ctx, "account-0", 0) {
		if !errors.Is(err, boltstore.ErrNoLog) {
			t.Errorf("Entries yields %v, want ErrNoLog", err)
		}
	}
	if _, err := s.Position(ctx, "route", "account-0"); !errors.Is(err, boltstore.ErrNoLog) {
		t.Errorf("Position = %v, want ErrNoLog", err)
	}
	if err := s.SetPosition(ctx, "route", "account-0", 1); !errors.Is(err, boltstore.ErrNoLog) {
		t.Errorf("SetPosition = %v, want ErrNoLog", err)
	}
	if _, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", nil); !errors.Is(err, boltstore.ErrNoLog) {
		t.Errorf("MakeCheckpoint = %v, want ErrNoLog", err)
	}
	if n, err := s.Prune(ctx, events[3].Timestamp); err != nil || n != 3 {
		t.Fatalf("Prune = %d, %v; want 3, nil", n, err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, hasLog := fileFormat(t, path); v != 2 || hasLog {
		t.Fatalf("a NoLog file has format %d and a log bucket %v; want format 2 without", v, hasLog)
	}

	// Read-only with NoLog: the format 2 file as it is.
	ro, err := boltstore.Open(path, &boltstore.Options{NoLog: true, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only NoLog Open: %v", err)
	}
	got, err = auditevents.Collect(ro.Query(ctx, auditevents.Query{}))
	if err != nil || len(got) != len(events)-3 {
		t.Fatalf("read-only Query = %d events, %v; want %d", len(got), err, len(events)-3)
	}
	ro.Close()

	// Without NoLog: upgraded, and the log verifies.
	s, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open without NoLog: %v", err)
	}
	if n, err := s.TreeSize(ctx, "account-0"); err != nil || n != 9 {
		t.Errorf("TreeSize after the upgrade = %d, %v; want 9 (account-0's events left)", n, err)
	}
	signer, verifier := ledgerKeys(t)
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, "account-0"), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}); err != nil {
		t.Errorf("Verify after the upgrade: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check after the upgrade: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, hasLog := fileFormat(t, path); v != 5 || !hasLog {
		t.Fatalf("after the upgrade: format %d, log bucket %v; want format 5 with it", v, hasLog)
	}

	// A file with the log refuses NoLog, and stays as it was.
	before := readFile(t, path)
	if _, err := boltstore.Open(path, &boltstore.Options{NoLog: true}); !errors.Is(err, boltstore.ErrNewerFormat) {
		t.Fatalf("NoLog Open of a file with the log = %v, want ErrNewerFormat", err)
	}
	if string(readFile(t, path)) != string(before) {
		t.Error("a refused NoLog Open changed the file")
	}
}
