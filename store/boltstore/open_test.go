package boltstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// testEvents returns n valid events, one a minute from t0, with varied
// users, configurations and accounts, and IDs that follow their order.
func testEvents(n int) []auditevents.AuditEvent {
	rec := auditevents.NewRecorder(nil, &auditevents.RecorderOptions{
		Now:     func() time.Time { return t0 },
		Entropy: rand.NewChaCha8([32]byte{1}),
	})
	out := make([]auditevents.AuditEvent, n)
	for i := range out {
		out[i] = auditevents.AuditEvent{
			Timestamp:     t0.Add(time.Duration(i) * time.Minute),
			Account:       fmt.Sprintf("account-%d", i%3),
			User:          fmt.Sprintf("user-%d", i%5),
			Action:        auditevents.ActionModified,
			ResourceKind:  auditevents.KindConfiguration,
			ResourceName:  fmt.Sprintf("resource-%d", i%11),
			Configuration: fmt.Sprintf("config-%d:%d", i%7, i%2),
			Description:   fmt.Sprintf("event %d", i),
		}
		if err := rec.Stamp(&out[i]); err != nil {
			panic(err)
		}
	}
	return out
}

// writeStore creates a store at path holding events, and closes it.
func writeStore(tb testing.TB, path string, events []auditevents.AuditEvent) {
	tb.Helper()
	s, err := boltstore.Open(path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Append(context.Background(), events...); err != nil {
		tb.Fatal(err)
	}
	if err := s.Close(); err != nil {
		tb.Fatal(err)
	}
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestReopenKeepsEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(300)
	writeStore(t, path, events)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := auditevents.Collect(s.Query(context.Background(), auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(got), len(events); got != want {
		t.Fatalf("got %d events after reopening, want %d", got, want)
	}
	for i, e := range got {
		if want := events[len(events)-1-i]; !e.Equal(&want) {
			t.Fatalf("event %d after reopening:\n got %+v\nwant %+v", i, e, want)
		}
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tt := range []struct {
		name string
		opts *boltstore.Options
	}{
		{"default timeout", nil},
		{"short timeout", &boltstore.Options{Timeout: 10 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			other, err := boltstore.Open(path, tt.opts)
			if err == nil {
				other.Close()
				t.Fatal("a second Open of a file in use succeeded")
			}
			if !errors.Is(err, boltstore.ErrLocked) {
				t.Fatalf("got %v, want an error wrapping ErrLocked", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
	// The store that holds the lock still works.
	if err := s.Append(context.Background(), testEvents(1)...); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsForeignAndDamagedFiles(t *testing.T) {
	events := testEvents(2000)
	tests := []struct {
		name  string
		make  func(tb testing.TB, path string)
		want  error
		inMsg string
	}{
		{"text file", func(tb testing.TB, path string) {
			os.WriteFile(path, []byte("hello, world\n"), 0o600)
		}, boltstore.ErrNotStore, "not a bbolt database"},
		{"one byte", func(tb testing.TB, path string) {
			os.WriteFile(path, []byte{0}, 0o600)
		}, boltstore.ErrNotStore, "not a bbolt database"},
		{"4,096 zero bytes", func(tb testing.TB, path string) {
			os.WriteFile(path, make([]byte, 4096), 0o600)
		}, boltstore.ErrNotStore, "not a bbolt database"},
		{"zeros", func(tb testing.TB, path string) {
			os.WriteFile(path, make([]byte, 64<<10), 0o600)
		}, boltstore.ErrNotStore, "not a bbolt database"},
		{"another program's bbolt file", func(tb testing.TB, path string) {
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				tb.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				b, _ := tx.CreateBucket([]byte("sessions"))
				return b.Put([]byte("k"), []byte("v"))
			})
			db.Close()
		}, boltstore.ErrNotStore, "sessions"},
		{"newer format", func(tb testing.TB, path string) {
			writeStore(tb, path, events[:10])
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				tb.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, uint32(formatVersion(tb)+1)))
			})
			db.Close()
		}, boltstore.ErrNewerFormat, fmt.Sprintf("format version %d; this version of the package reads format version %d", formatVersion(t)+1, formatVersion(t))},
		{"older format", func(tb testing.TB, path string) {
			writeStore(tb, path, events[:10])
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				tb.Fatal(err)
			}
			db.Update(func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("format"), binary.BigEndian.AppendUint32(nil, 1))
			})
			db.Close()
		}, boltstore.ErrOlderFormat, fmt.Sprintf("format version 1; this version of the package reads format version %d and upgrades format versions 2 to %d", formatVersion(t), formatVersion(t)-1)},
		{"truncated", func(tb testing.TB, path string) {
			writeStore(tb, path, events)
			fi, _ := os.Stat(path)
			os.Truncate(path, fi.Size()/2)
		}, boltstore.ErrCorrupt, "truncated"},
		{"both header pages damaged", func(tb testing.TB, path string) {
			writeStore(tb, path, events)
			b := readFile(tb, path)
			for _, off := range []int{0, 4096} {
				b[off+16+20] ^= 0xFF // in the meta, past the magic and version
			}
			os.WriteFile(path, b, 0o600)
		}, boltstore.ErrCorrupt, "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			tt.make(t, path)
			before := readFile(t, path)
			s, err := boltstore.Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want an error wrapping %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.inMsg) {
				t.Errorf("error %q does not say %q", err, tt.inMsg)
			}
			if !bytes.Equal(readFile(t, path), before) {
				t.Error("Open modified the file")
			}
			// The failed Open released the file.
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err = boltstore.Open(path, &boltstore.Options{Timeout: 10 * time.Millisecond})
			if err != nil {
				t.Fatalf("Open of the emptied file: %v", err)
			}
			s.Close()
		})
	}
}

// TestDamagedPagesNeverPanic overwrites random stretches of a store's data
// pages and checks that opening, querying and checking it return errors
// rather than panicking, and never write to it.
func TestDamagedPagesNeverPanic(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.db")
	writeStore(t, clean, testEvents(3000))
	original := readFile(t, clean)
	rng := rand.New(rand.NewPCG(3, 4))
	ctx := context.Background()
	for round := range 40 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			b := bytes.Clone(original)
			for range 1 + rng.IntN(4) {
				off := 2*4096 + rng.IntN(len(b)-2*4096-64)
				for i := range 1 + rng.IntN(64) {
					b[off+i] = byte(rng.Uint32())
				}
			}
			path := filepath.Join(dir, fmt.Sprintf("damaged%d.db", round))
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := boltstore.Open(path, nil)
			if err != nil {
				if !errors.Is(err, boltstore.ErrCorrupt) {
					t.Fatalf("Open: got %v, want an error wrapping ErrCorrupt", err)
				}
			} else {
				for _, q := range []auditevents.Query{{}, {User: "user-1"}, {Configuration: "config-3"}, {Account: ptr("account-2")}} {
					for _, err := range s.Query(ctx, q) {
						if err != nil && !errors.Is(err, boltstore.ErrCorrupt) {
							t.Fatalf("Query: got %v, want nil or an error wrapping ErrCorrupt", err)
						}
					}
				}
				if err := s.Check(ctx); err != nil && !errors.Is(err, boltstore.ErrCorrupt) {
					t.Fatalf("Check: got %v, want nil or an error wrapping ErrCorrupt", err)
				}
				s.Close()
			}
			if !bytes.Equal(readFile(t, path), b) {
				t.Error("the damaged file was modified")
			}
		})
	}
}

func TestConcurrentAppendsWithDuplicates(t *testing.T) {
	s := openTemp(t, nil)
	ctx := context.Background()
	events := testEvents(64)
	// Each event is appended by two goroutines at once: one of them must
	// succeed and the other fail with ErrDuplicateID, whatever transaction
	// each lands in.
	errs := make([][2]error, len(events))
	var wg sync.WaitGroup
	for i := range events {
		for j := range 2 {
			wg.Go(func() { errs[i][j] = s.Append(ctx, events[i]) })
		}
	}
	wg.Wait()
	for i, e := range errs {
		ok, dup := 0, 0
		for _, err := range e {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, auditevents.ErrDuplicateID):
				dup++
			default:
				t.Fatalf("event %d: %v", i, err)
			}
		}
		if ok != 1 || dup != 1 {
			t.Errorf("event %d: %d appends succeeded and %d failed as duplicates, want 1 and 1", i, ok, dup)
		}
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(got), len(events); got != want {
		t.Fatalf("stored %d events, want %d", got, want)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPruneLargeAndReuseSpace(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 50,000 events")
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	events := testEvents(50000)
	first, second := events[:25000], events[25000:]
	if err := s.Append(ctx, first...); err != nil {
		t.Fatal(err)
	}
	before := highWater(t, s)
	n, err := s.Prune(ctx, second[0].Timestamp)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := n, len(first); got != want {
		t.Fatalf("Prune deleted %d events, want %d", got, want)
	}
	afterPrune := highWater(t, s)
	if err := s.Append(ctx, second...); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{User: "user-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(got), len(second)/5; got != want {
		t.Errorf("user-1 has %d events after the prune, want %d", got, want)
	}
	after := highWater(t, s)
	s.Close()
	// The second half's events fit in the pages the first half's freed,
	// give or take the pages of the transactions in between. The tree and
	// the sequences of the first half stay (pruning keeps them so that
	// proofs still hold), so the second half's are new: at most 128 bytes
	// an event.
	if limit := before*5/4 + int64(len(second))*128; after > limit {
		t.Errorf("the file's pages grew from %d to %d bytes (%d after the prune), more than %d: pruned pages were not reused", before, after, afterPrune, limit)
	}
}

// highWater returns how many bytes of its file the store uses: the end of
// its last page, which bbolt's file size (grown in steps) hides.
func highWater(tb testing.TB, s *boltstore.Store) int64 {
	tb.Helper()
	size, err := boltstore.HighWater(s)
	if err != nil {
		tb.Fatal(err)
	}
	return size
}

func TestBackup(t *testing.T) {
	s := openTemp(t, nil)
	ctx := context.Background()
	events := testEvents(500)
	if err := s.Append(ctx, events[:400]...); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := s.BackupFile(ctx, path); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	n, err := s.Backup(ctx, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := int64(buf.Len()), n; got != want {
		t.Errorf("Backup wrote %d bytes but returned %d", got, want)
	}
	// Appends after the backup are not in it.
	if err := s.Append(ctx, events[400:]...); err != nil {
		t.Fatal(err)
	}
	b, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := auditevents.Collect(b.Query(ctx, auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(got), 400; got != want {
		t.Fatalf("backup holds %d events, want %d", got, want)
	}
	if !got[0].Equal(&events[399]) {
		t.Errorf("newest event of the backup:\n got %+v\nwant %+v", got[0], events[399])
	}
	if err := b.Check(ctx); err != nil {
		t.Fatal(err)
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Backup(cancelled, &buf); !errors.Is(err, context.Canceled) {
		t.Errorf("Backup with a cancelled context: got %v, want context.Canceled", err)
	}
}
