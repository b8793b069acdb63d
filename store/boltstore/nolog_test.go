package boltstore_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
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

// NoLog writes the current format without the log, marked meta/nolog; its
// Ledger methods say so; the file opens read-only with NoLog, and read-only
// without NoLog is refused with ErrOlderFormat; opening it without NoLog
// builds a log that verifies; and a file with the log is refused by NoLog,
// since events appended outside the log would break its proofs.
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
	if v, hasLog := fileFormat(t, path); int(v) != formatVersion(t) || hasLog || !noLogMark(t, path) {
		t.Fatalf("a NoLog file has format %d, a log bucket %v and the nolog mark %v; want format %d without the log, marked", v, hasLog, noLogMark(t, path), formatVersion(t))
	}
	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) {
		t.Fatalf("read-only Open without NoLog of a file without the log = %v, want ErrOlderFormat", err)
	}

	// Read-only with NoLog: the file as it is.
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
	if v, hasLog := fileFormat(t, path); int(v) != formatVersion(t) || !hasLog || noLogMark(t, path) {
		t.Fatalf("after the upgrade: format %d, log bucket %v, nolog mark %v; want format %d with the log, unmarked", v, hasLog, noLogMark(t, path), formatVersion(t))
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

// noLogMark reports whether the meta bucket holds the key "nolog", with bbolt
// directly, as FORMAT.md describes it.
func noLogMark(tb testing.TB, path string) bool {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var marked bool
	if err := db.View(func(tx *bolt.Tx) error {
		marked = tx.Bucket([]byte("meta")).Get([]byte("nolog")) != nil
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return marked
}

// A file of format 2, the format before the log, opens read-only with NoLog
// as it is, and writable with NoLog becomes the current format without the
// log, keeping its events and their values byte for byte.
func TestNoLogFormat2(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	copyFile(t, filepath.Join("testdata", "format2.db"), path)
	before := readFile(t, path)
	values := dumpBucket(t, path, "events")
	ro, err := boltstore.Open(path, &boltstore.Options{NoLog: true, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only NoLog Open of a format 2 file: %v", err)
	}
	want, err := auditevents.Collect(ro.Query(ctx, auditevents.Query{}))
	if err != nil || len(want) == 0 {
		t.Fatalf("read-only Query = %d events, %v", len(want), err)
	}
	// Through the indexes too, whose hot class the Store reads from its
	// copy in memory, built from the file at Open.
	var byIndex []auditevents.Query
	for _, e := range want[:5] {
		byIndex = append(byIndex, auditevents.Query{User: e.User}, auditevents.Query{Configuration: e.Configuration}, auditevents.Query{Account: &e.Account, User: e.User})
	}
	boltstore.CheckQueries(t, ro, want, byIndex, "format 2 opened read-only with NoLog")
	ro.Close()
	if string(readFile(t, path)) != string(before) {
		t.Fatal("a read-only Open changed the file")
	}
	s, err := boltstore.Open(path, &boltstore.Options{NoLog: true})
	if err != nil {
		t.Fatalf("NoLog Open of a format 2 file: %v", err)
	}
	boltstore.CheckQueries(t, s, want, []auditevents.Query{{}}, "format 2 opened with NoLog")
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, hasLog := fileFormat(t, path); int(v) != formatVersion(t) || hasLog || !noLogMark(t, path) {
		t.Fatalf("format 2 opened with NoLog: format %d, log bucket %v, nolog mark %v; want format %d without the log, marked", v, hasLog, noLogMark(t, path), formatVersion(t))
	}
	if got := dumpBucket(t, path, "events"); got != values {
		t.Error("opening a format 2 file with NoLog changed its values, which FORMAT.md says are already valid")
	}
}

// setFormat writes the format version of the store file at path with bbolt
// directly, and lays its hot classes out as that version did, to make a
// file of an older version.
func setFormat(tb testing.TB, path string, version uint32) {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		if err := boltstore.HotToFormat(tx, int(version)); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, version))
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// A file of format 5 or 7 without the log (marked meta/nolog) holds the
// values of the current format without the log: no sequence, no leaf
// check, the actor section at the end; its hot classes lie as its format
// laid them out. Opened read-only with NoLog it is read as it is, every
// index included, and passes Check; opened with NoLog it becomes the
// current format without the log, its values untouched; read-only without
// NoLog it is refused; opened without NoLog its log is built over its
// events, actor fields included.
func TestNoLogOlderFormats(t *testing.T) {
	for _, version := range []uint32{5, 7} {
		t.Run(fmt.Sprintf("format%d", version), func(t *testing.T) { testNoLogOlderFormat(t, version) })
	}
}

func testNoLogOlderFormat(t *testing.T, version uint32) {
	ctx := context.Background()
	events := goldenActorEvents()
	src := filepath.Join(t.TempDir(), "older-nolog.db")
	s, err := boltstore.Open(src, &boltstore.Options{NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setFormat(t, src, version)
	values := dumpBucket(t, src, "events")

	path := filepath.Join(t.TempDir(), "nolog.db")
	copyFile(t, src, path)
	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) {
		t.Fatalf("read-only Open without NoLog of a format %d file without the log = %v, want ErrOlderFormat", version, err)
	}
	ro, err := boltstore.Open(path, &boltstore.Options{NoLog: true, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only NoLog Open of a format %d file without the log: %v", version, err)
	}
	every := []auditevents.Query{{}, {User: "user-2"}, {Configuration: "config-3:1"}, {Account: ptr("account-1"), User: "user-1"}, {RequestID: "req-3"}, {IPAddress: netip.MustParsePrefix("192.0.2.0/24")}, {IPAddress: netip.MustParsePrefix("2001:db8::/32")}}
	boltstore.CheckQueries(t, ro, events, every, fmt.Sprintf("format %d without the log opened read-only with NoLog", version))
	if err := ro.Check(ctx); err != nil {
		t.Fatalf("Check of a format %d file without the log, read-only: %v", version, err)
	}
	ro.Close()
	if s, err = boltstore.Open(path, &boltstore.Options{NoLog: true}); err != nil {
		t.Fatalf("NoLog Open of a format %d file without the log: %v", version, err)
	}
	boltstore.CheckQueries(t, s, events, every, fmt.Sprintf("format %d without the log opened with NoLog", version))
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, hasLog := fileFormat(t, path); int(v) != formatVersion(t) || hasLog || !noLogMark(t, path) {
		t.Fatalf("format %d without the log opened with NoLog: format %d, log bucket %v, nolog mark %v; want format %d without the log, marked", version, v, hasLog, noLogMark(t, path), formatVersion(t))
	}
	if got := dumpBucket(t, path, "events"); got != values {
		t.Errorf("opening a format %d file without the log with NoLog changed its values", version)
	}

	path = filepath.Join(t.TempDir(), "log.db")
	copyFile(t, src, path)
	if s, err = boltstore.Open(path, nil); err != nil {
		t.Fatalf("Open without NoLog of a format %d file without the log: %v", version, err)
	}
	boltstore.CheckQueries(t, s, events, every, fmt.Sprintf("format %d without the log, its log built", version))
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	signer, verifier := ledgerKeys(t)
	for _, account := range []string{"account-0", "account-1", "account-2"} {
		cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", account, signer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, account), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}); err != nil {
			t.Errorf("Verify of account %q after the log was built: %v", account, err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if v, hasLog := fileFormat(t, path); int(v) != formatVersion(t) || !hasLog || noLogMark(t, path) {
		t.Fatalf("format %d without the log opened without NoLog: format %d, log bucket %v, nolog mark %v; want format %d with the log, unmarked", version, v, hasLog, noLogMark(t, path), formatVersion(t))
	}
}
