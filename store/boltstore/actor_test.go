package boltstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// The actor fields come back as they were appended, after a reopen too:
// each field alone and all four, unicode, the longest values, IPv6, the
// most metadata; an event without them comes back without them, its
// Metadata nil.
func TestActorRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(9)
	events[0].IPAddress = "192.0.2.1"
	events[1].UserAgent = "curl/8.5.0"
	events[2].RequestID = "4bf92f3577b34da6a3ce929d0e0e4736"
	events[3].Metadata = map[string]string{"region": "eu-west-1"}
	events[4].IPAddress = "2001:db8:85a3::8a2e:370:7334"
	events[4].UserAgent = "Navigateur/1.0 (Ünïcödé; 日本語) 🚀"
	events[4].RequestID = "req-ü-日本"
	events[4].Metadata = map[string]string{"tenant.name": "Zürich", "empty": ""}
	events[5].IPAddress = "::ffff:198.51.100.7" // stored as the IPv4 address
	events[5].UserAgent = strings.Repeat("ü", auditevents.MaxNameBytes/2)
	events[5].RequestID = strings.Repeat("r", auditevents.MaxNameBytes)
	events[5].Metadata = maxMetadata()
	events[6].IPAddress = "::"
	events[6].Metadata = map[string]string{} // no metadata
	events[7].IPAddress = "255.255.255.255"
	// events[8] has no actor fields.
	want := make([]auditevents.AuditEvent, len(events))
	for i := range events {
		want[i] = auditevents.Normalize(events[i])
	}
	if got := want[5].IPAddress; got != "198.51.100.7" {
		t.Fatalf("Normalize wrote %q, want the IPv4 address", got)
	}

	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events...); err != nil {
		t.Fatal(err)
	}
	check := func(step string) {
		t.Helper()
		got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(got)
		if len(got) != len(want) {
			t.Fatalf("%s: %d events, want %d", step, len(got), len(want))
		}
		for i := range want {
			if !got[i].Equal(&want[i]) {
				t.Errorf("%s: event %d:\n got %+v\nwant %+v", step, i, got[i], want[i])
			}
			if !want[i].HasActor() && (got[i].Metadata != nil || got[i].HasActor()) {
				t.Errorf("%s: event %d without actor fields came back with %+v", step, i, got[i])
			}
		}
		if got[6].Metadata != nil {
			t.Errorf("%s: empty metadata came back as %#v, want nil", step, got[6].Metadata)
		}
		if err := s.Check(ctx); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	check("after Append")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = boltstore.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check("after reopening")
}

// An event without actor fields is stored in exactly the bytes of format 4
// given the log prefix, the bytes the upgrade of the format 4 golden file
// writes: the actor section costs nothing to the events that do not use it.
func TestActorCostsNothingWithout(t *testing.T) {
	upgraded := filepath.Join(t.TempDir(), "format4.db")
	copyFile(t, filepath.Join("testdata", "format4.db"), upgraded)
	s, err := boltstore.Open(upgraded, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old := dumpBucket(t, upgraded, "events")
	path := filepath.Join(t.TempDir(), "audit.db")
	writeStore(t, path, goldenEvents())
	if got := dumpBucket(t, path, "events"); got != old {
		t.Error("the events without actor fields are stored in other bytes than those of format 4 upgraded")
	}
	for _, b := range []string{"by-request-id", "by-ip-address"} {
		if got := dumpBucket(t, path, b); got != "" {
			t.Errorf("bucket %s holds entries for events without actor fields:\n%s", b, got)
		}
	}
}

// dumpBucket returns the lines of dump for one bucket of the file at path:
// its keys and values in hex.
func dumpBucket(tb testing.TB, path, bucket string) string {
	tb.Helper()
	all := dump(tb, path)
	start := strings.Index(all, "bucket "+bucket+"\n")
	if start < 0 {
		tb.Fatalf("the file has no bucket %s", bucket)
	}
	rest := all[start+len("bucket "+bucket+"\n"):]
	if end := strings.Index(rest, "bucket "); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

// A file of format 4, from before the actor fields, is upgraded on a
// writable Open: it gains the two actor indexes, empty, keeps its events,
// log and positions, and takes events with actor fields afterwards; a
// read-only Open refuses it, saying how to upgrade it.
func TestUpgradeFormat4ActorFields(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "old.db")
	copyFile(t, filepath.Join("testdata", "format4.db"), path)
	before := readFile(t, path)
	if _, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true}); !errors.Is(err, boltstore.ErrOlderFormat) || !strings.Contains(err.Error(), fmt.Sprintf("format version 4; open it once without ReadOnly to upgrade it to format version %d", formatVersion(t))) {
		t.Fatalf("read-only Open of a format 4 file = %v, want ErrOlderFormat saying how to upgrade", err)
	}
	if !bytes.Equal(readFile(t, path), before) {
		t.Fatal("a read-only Open changed the file")
	}
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open of a format 4 file: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got, want := formatOf(t, path), formatVersion(t); int(got) != want {
		t.Errorf("the upgraded file has format version %d, want %d", got, want)
	}
	if s, err = boltstore.Open(path, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	events := goldenEvents()
	boltstore.CheckQueries(t, s, events, []auditevents.Query{{}, {User: "user-2"}, {Account: ptr("account-1")}, {RequestID: "req-1"}, {IPAddress: netip.MustParsePrefix("192.0.2.0/24")}}, "upgraded format 4 file")
	wantGoldenPositions(t, s)
	for _, account := range []string{"account-0", "account-1"} {
		if got, err := s.TreeSize(ctx, account); got == 0 || err != nil {
			t.Errorf("TreeSize(%q) after the upgrade = %d, %v; want the log kept", account, got, err)
		}
	}
	var more []auditevents.AuditEvent
	for _, e := range testEvents(230)[200:] {
		e.IPAddress, e.UserAgent, e.RequestID = "203.0.113.9", "client/2.0", "req-after"
		more = append(more, e)
	}
	if err := s.Append(ctx, more...); err != nil {
		t.Fatal(err)
	}
	events = append(events, more...)
	boltstore.CheckQueries(t, s, events, []auditevents.Query{{}, {RequestID: "req-after"}, {IPAddress: netip.MustParsePrefix("203.0.113.9/32")}, {IPAddress: netip.MustParsePrefix("203.0.113.0/24"), User: "user-1"}}, "after appending to the upgraded file")
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// A store opened with NoLog keeps the actor fields and answers their
// filters as a store with the log does; opened later without NoLog, the log
// is built over them and verifies.
func TestNoLogKeepsActorFields(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	s, err := boltstore.Open(path, &boltstore.Options{NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	events := testEvents(3)
	events[2].UserAgent = "curl/8.5.0"
	events[2].RequestID = "req-2"
	events[2].IPAddress = "2001:db8::2"
	events[2].Metadata = map[string]string{"session": "s-2"}
	if err := s.Append(ctx, events...); err != nil {
		t.Fatalf("Append of an event with actor fields to a NoLog store: %v", err)
	}
	boltstore.CheckQueries(t, s, events, []auditevents.Query{{}, {RequestID: "req-2"}, {IPAddress: netip.MustParsePrefix("2001:db8::/32")}}, "NoLog")
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatalf("Open without NoLog: %v", err)
	}
	defer s.Close()
	boltstore.CheckQueries(t, s, events, []auditevents.Query{{}, {RequestID: "req-2"}}, "after the log was built")
	signer, verifier := ledgerKeys(t)
	account := events[2].Account
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", account, signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auditevents.Verify(ctx, auditevents.AccountLog(s, account), auditevents.VerifyOptions{Verifier: verifier, Checkpoint: cp}); err != nil {
		t.Errorf("Verify after the log was built: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Fatal(err)
	}
}

// Changing the IP address of a stored event with bbolt, checksum fixed, is
// reported by Verify as a modification of its sequence: the leaf covers the
// actor fields.
func TestLedgerTamperIPAddress(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.db")
	events := testEvents(60)
	for i := range events {
		events[i].IPAddress = "192.0.2.7"
	}
	writeStore(t, path, events)
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	signer, verifier := ledgerKeys(t)
	cp, _, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "account-0", signer)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := verifyFile(t, path, verifier, cp, nil); err != nil {
		t.Fatalf("Verify of the untouched file: %v", err)
	}
	// account-0 holds every third event: event 30 is its sequence 10. Its
	// value ends with the actor section: the flags (1, the IP address
	// alone), the length 4 and the address.
	tamper(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte("events"))
		v := slices.Clone(b.Get(keyOf(events[30])))
		tail := []byte{1, 4, 192, 0, 2, 7}
		if !bytes.HasSuffix(v, tail) {
			t.Fatalf("the value %x does not end with the actor section %x", v, tail)
		}
		v[len(v)-1] = 8 // 192.0.2.8
		binary.BigEndian.PutUint32(v, crc32.Checksum(v[4:], crc32.MakeTable(crc32.Castagnoli)))
		return b.Put(keyOf(events[30]), v)
	})
	_, err = verifyFile(t, path, verifier, cp, nil)
	if !errors.Is(err, auditevents.ErrTampered) || !strings.Contains(err.Error(), "modified: the event at sequence 10") {
		t.Fatalf("Verify after changing an IP address = %v, want the event at sequence 10 modified", err)
	}
}
