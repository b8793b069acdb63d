package boltstore_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

var update = flag.Bool("update", false, "rewrite the golden files of the current format version in testdata")

// formatVersion is the version this package writes, read from a new store
// so that the tests follow the code.
func formatVersion(tb testing.TB) int {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "version.db")
	writeStore(tb, path, nil)
	v := 0
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("meta")).Get([]byte("format"))
		for _, c := range b {
			v = v<<8 | int(c)
		}
		return nil
	})
	return v
}

// goldenEvents are the events of the golden files of format 4 and before:
// testEvents, and events that take the encoding's other branches: strings
// too long for the dictionary (stored as they are, hash-tagged in the
// indexes), an action outside the code table, a configuration without a
// version, none at all.
func goldenEvents() []auditevents.AuditEvent {
	events := testEvents(200)
	long := strings.Repeat("x", 200)
	events[10].User = long
	events[11].Configuration = long + ":4"
	events[12].Action = "exported"
	events[13].Configuration = "plain"
	events[14].Configuration = ""
	events[15].Account = long
	return events
}

// goldenActorEvents are the events of the golden files from format 5:
// goldenEvents, a third of them with actor fields in each of their forms
// (IPv4 and IPv6 addresses, user agents that repeat, one too long for the
// dictionary, request IDs shared by a few events, metadata of one entry
// and of the most), the others without, as most events of a store are.
func goldenActorEvents() []auditevents.AuditEvent {
	events := goldenEvents()
	for i := range events {
		e := &events[i]
		switch i % 3 {
		case 1:
			e.IPAddress = fmt.Sprintf("192.0.2.%d", i%7)
			e.UserAgent = fmt.Sprintf("client/%d.0", i%4)
			e.RequestID = fmt.Sprintf("req-%d", i/6)
		case 2:
			if i%9 == 2 {
				e.IPAddress = fmt.Sprintf("2001:db8::%x", i%5)
				e.Metadata = map[string]string{"region": "eu-west-1", "session": fmt.Sprintf("s%d", i)}
			}
		}
	}
	events[40].UserAgent = "Mozilla/5.0 (X11; Linux x86_64) " + strings.Repeat("é", 150) // longer than the dictionary takes
	events[41].Metadata = maxMetadata()
	events[42].RequestID = strings.Repeat("r", auditevents.MaxNameBytes)
	for i := range events {
		events[i] = auditevents.Normalize(events[i]) // 2001:db8::0 as the store keeps it, 2001:db8::
	}
	return events
}

// maxMetadata returns metadata with the most entries, of the longest keys
// and values.
func maxMetadata() map[string]string {
	m := make(map[string]string, auditevents.MaxMetadataEntries)
	for i := range auditevents.MaxMetadataEntries {
		key := fmt.Sprintf("%02d", i) + strings.Repeat("k", auditevents.MaxMetadataKeyBytes-2)
		m[key] = strings.Repeat(string(rune('a'+i)), auditevents.MaxNameBytes)
	}
	return m
}

// goldenEventsOf returns the events of the golden files of the given
// format version.
func goldenEventsOf(version int) []auditevents.AuditEvent {
	if version < 5 {
		return goldenEvents()
	}
	return goldenActorEvents()
}

// dump returns every key and value of every bucket of the store file at
// path, one line each, in hex. The kind table is left out: it grows, by
// design and without a new format version, whenever the root package
// learns a kind.
func dump(tb testing.TB, path string) string {
	tb.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			fmt.Fprintf(&b, "bucket %s\n", name)
			return bk.ForEach(func(k, v []byte) error {
				if string(name) == "meta" && string(k) == "kinds" {
					v = []byte("(left out)")
				}
				fmt.Fprintf(&b, "%x %x\n", k, v)
				return nil
			})
		})
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b.String()
}

// TestFormatPinned writes the golden events, in two Appends, to a new
// store that seals its index entries after the first, and compares every byte of its buckets with the dump kept for the
// current format version. A change of the bytes must come with a new
// format version (and new golden files, written with -update): a file of
// the old layout would otherwise be read as the new one.
func TestFormatPinned(t *testing.T) {
	version := formatVersion(t)
	path := filepath.Join(t.TempDir(), "golden.db")
	var opts boltstore.Options
	boltstore.SetSealAfter(&opts, 64) // the first Append seals, the second stays hot
	s, err := boltstore.Open(path, &opts)
	if err != nil {
		t.Fatal(err)
	}
	events := goldenEventsOf(version)
	for _, batch := range [][]auditevents.AuditEvent{events[:150], events[150:]} {
		if err := s.Append(context.Background(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	setGoldenPositions(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	got := dump(t, path)
	goldenDump := filepath.Join("testdata", fmt.Sprintf("format%d.dump", version))
	goldenDB := filepath.Join("testdata", fmt.Sprintf("format%d.db", version))
	if *update {
		if err := os.WriteFile(goldenDump, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenDB, readFile(t, path), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenDump)
	if err != nil {
		t.Fatalf("no golden dump for format version %d: %v (write it with go test -run TestFormatPinned -update)", version, err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		i := 0
		for i < len(gl) && i < len(wl) && gl[i] == wl[i] {
			i++
		}
		t.Fatalf("the bytes written for the golden events differ from %s, but the format version is still %d: bump it, describe the change in FORMAT.md and write new golden files with -update.\nfirst difference, line %d:\n got %s\nwant %s",
			goldenDump, version, i+1, at(gl, i), at(wl, i))
	}
}

func at(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}

// TestGoldenFile opens the store file written by the current format
// version and kept in testdata, and checks that every filter, alone and
// combined, with date bounds, cursors and limits, returns what a plain scan
// of the golden events returns, and that Check passes.
func TestGoldenFile(t *testing.T) {
	version := formatVersion(t)
	path := filepath.Join(t.TempDir(), "golden.db")
	src := filepath.Join("testdata", fmt.Sprintf("format%d.db", version))
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("no golden file for format version %d: %v (write it with go test -run TestFormatPinned -update)", version, err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	events := goldenEventsOf(version)
	long := strings.Repeat("x", 200)
	mid := events[100]
	queries := []auditevents.Query{
		{},
		{User: "user-2"},
		{User: long},
		{Configuration: "config-3"},
		{Configuration: "config-3:1"},
		{Configuration: long},
		{Configuration: long + ":4"},
		{Configuration: "plain"},
		{Account: ptr("account-1")},
		{Account: ptr(long)},
		{ResourceName: "resource-4"},
		{User: "user-2", Configuration: "config-3"},
		{User: "user-1", Account: ptr("account-0"), Configuration: "config-6:0"},
		{Since: mid.Timestamp, Before: mid.Timestamp.Add(time.Hour)},
		{User: "user-3", Since: mid.Timestamp},
		{Configuration: "config-2", Before: mid.Timestamp},
		{Limit: 7, After: mid.Cursor()},
		{Account: ptr("account-2"), Limit: 5, After: mid.Cursor()},
		{User: "nobody"},
		{RequestID: "req-3"},
		{RequestID: "req-3", User: "user-1"},
		{RequestID: strings.Repeat("r", auditevents.MaxNameBytes)},
		{RequestID: "req-none"},
		{IPAddress: netip.MustParsePrefix("192.0.2.3/32")},
		{IPAddress: netip.MustParsePrefix("192.0.2.0/24")},
		{IPAddress: netip.MustParsePrefix("2001:db8::/32"), Account: ptr("account-2")},
		{IPAddress: netip.MustParsePrefix("2001:db8::4/128"), Limit: 2},
		{IPAddress: netip.MustParsePrefix("198.51.100.0/24")},
	}
	boltstore.CheckQueries(t, s, events, queries, "golden file")
	if !bytes.Equal(readFile(t, src), b) {
		t.Error("the golden file changed")
	}
}
