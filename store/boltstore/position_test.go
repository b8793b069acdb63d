package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// goldenPositions are the positions the golden files of format 4 and later
// hold, set after the golden events by setGoldenPositions. The golden
// events' accounts account-0 to account-2 hold 66 or 67 events each.
var goldenPositions = []struct {
	consumer, account string
	position          int64
}{
	{"webhook", "account-0", 66},
	{"webhook", "account-1", 7},
	{"otlp", "account-1", 0},
	{"webhook ⇒ SIEM", "account-2", 1},
}

// setGoldenPositions stores goldenPositions.
func setGoldenPositions(tb testing.TB, s *boltstore.Store) {
	tb.Helper()
	for _, p := range goldenPositions {
		if err := s.SetPosition(context.Background(), p.consumer, p.account, p.position); err != nil {
			tb.Fatalf("SetPosition(%q, %q, %d): %v", p.consumer, p.account, p.position, err)
		}
	}
}

// wantGoldenPositions fails the test unless s holds goldenPositions.
func wantGoldenPositions(tb testing.TB, s *boltstore.Store) {
	tb.Helper()
	for _, p := range goldenPositions {
		got, err := s.Position(context.Background(), p.consumer, p.account)
		if err != nil || got != p.position {
			tb.Errorf("Position(%q, %q) = %d, %v; want %d", p.consumer, p.account, got, err, p.position)
		}
	}
}

// Positions are in the file: they survive Close and reopening, read-only
// too, and a read-only store refuses to move them.
func TestPositionsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	writeStore(t, path, testEvents(200))
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	setGoldenPositions(t, s)
	if err := s.SetPosition(ctx, "webhook", "account-1", 9); err != nil { // overwrites
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Position(ctx, "webhook", "account-1"); got != 9 || err != nil {
		t.Errorf("Position after reopening = %d, %v; want 9", got, err)
	}
	if err := s.SetPosition(ctx, "webhook", "account-1", 7); err != nil {
		t.Fatal(err)
	}
	wantGoldenPositions(t, s)
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	ro, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	wantGoldenPositions(t, ro)
	if err := ro.SetPosition(ctx, "webhook", "account-1", 1); !errors.Is(err, boltstore.ErrReadOnly) {
		t.Errorf("SetPosition of a read-only store = %v, want ErrReadOnly", err)
	}
}

// The golden file of the current format holds the golden positions.
func TestGoldenPositions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "golden.db")
	copyFile(t, filepath.Join("testdata", fmt.Sprintf("format%d.db", formatVersion(t))), path)
	s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantGoldenPositions(t, s)
}

// A file of format 3, from before positions, is upgraded on a writable
// Open: it gains the positions bucket, empty, and keeps its events and log;
// a read-only Open refuses it, saying how to upgrade it.
func TestUpgradeFormat3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, filepath.Join("testdata", "format3.db"), path)
	before := readFile(t, path)
	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) || !strings.Contains(err.Error(), fmt.Sprintf("format version 3; open it once without ReadOnly to upgrade it to format version %d", formatVersion(t))) {
		t.Fatalf("read-only Open of a format 3 file = %v, want ErrOlderFormat saying how to upgrade", err)
	}
	if string(readFile(t, path)) != string(before) {
		t.Fatal("a read-only Open changed the file")
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a format 3 file: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	events := goldenEvents()
	boltstore.CheckQueries(t, s, events, []auditevents.Query{{}, {User: "user-2"}, {Account: ptr("account-1")}}, "upgraded format 3 file")
	sizes := map[string]int64{}
	for _, e := range events {
		sizes[e.Account]++
	}
	for account, want := range sizes {
		if got, err := s.TreeSize(ctx, account); got != want || err != nil {
			t.Errorf("TreeSize(%q) after the upgrade = %d, %v; want %d", account, got, err, want)
		}
	}
	if got, err := s.Position(ctx, "webhook", "account-0"); got != 0 || err != nil {
		t.Errorf("Position after the upgrade = %d, %v; want 0", got, err)
	}
	setGoldenPositions(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := formatOf(t, path), formatVersion(t); int(got) != want {
		t.Errorf("the upgraded file has format version %d, want %d", got, want)
	}
	s, err = boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	wantGoldenPositions(t, s)
}

// formatOf returns the format version written in the file at path.
func formatOf(tb testing.TB, path string) int {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	v := 0
	db.View(func(tx *bolt.Tx) error {
		for _, c := range tx.Bucket([]byte("meta")).Get([]byte("format")) {
			v = v<<8 | int(c)
		}
		return nil
	})
	return v
}

// Check reads every position: a damaged one, or one beyond its account's
// log, is reported.
func TestCheckFindsDamagedPositions(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(b *bolt.Bucket) error
		want string
	}{
		{"checksum", func(b *bolt.Bucket) error {
			k := []byte("webhook\x00account-1")
			v := append([]byte(nil), b.Get(k)...)
			v[len(v)-1] ^= 1
			return b.Put(k, v)
		}, `the position of consumer "webhook" in account "account-1" fails its checksum`},
		{"beyond the log", func(b *bolt.Bucket) error {
			v := append([]byte(nil), b.Get([]byte("webhook\x00account-0"))...) // 66
			return b.Put([]byte("webhook\x00nobody"), v)                       // in an empty log
		}, `the position 66 of consumer "webhook" in account "nobody" is beyond the tree size 0`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			writeStore(t, path, testEvents(200))
			s, err := boltstore.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			setGoldenPositions(t, s)
			s.Close()
			tamper(t, path, func(tx *bolt.Tx) error { return tt.edit(tx.Bucket([]byte("positions"))) })
			s, err = boltstore.Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.Check(context.Background()); !errors.Is(err, boltstore.ErrCorrupt) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Check = %v, want ErrCorrupt saying %q", err, tt.want)
			}
		})
	}
}
