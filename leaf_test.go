package auditevents_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// leafCase is one event whose encoding a golden file holds.
type leafCase struct {
	name string
	seq  int64
	e    auditevents.AuditEvent
}

// leafCases are the events whose encodings testdata/leaf-v1.golden holds:
// events without actor context.
func leafCases() []leafCase {
	full := sample()
	unicode := sample()
	unicode.User, unicode.Description = "zoë@example.com", "Ünïcödé ✓ \"quoted\", comma"
	old := sample()
	old.Timestamp = time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)
	emptyMetadata := sample()
	emptyMetadata.Metadata = map[string]string{} // no entry is no actor context: still version 1
	return []leafCase{
		{"empty", 0, auditevents.AuditEvent{Timestamp: time.Unix(0, 0)}},
		{"full", 1, full},
		{"unicode", 1 << 40, unicode},
		{"before-1970", 7, old},
		{"empty-metadata", 1, emptyMetadata},
	}
}

// leafActorCases are the events whose encodings testdata/leaf-v2.golden
// holds: events with actor context, each field alone and all together.
func leafActorCases() []leafCase {
	ip := sample()
	ip.IPAddress = "192.0.2.1"
	ua := sample()
	ua.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) Ünïcödé"
	rid := sample()
	rid.RequestID = "4bf92f3577b34da6a3ce929d0e0e4736"
	md := sample()
	md.Metadata = map[string]string{"session": "s-1"}
	full := actorSample()
	return []leafCase{
		{"ip-only", 1, ip},
		{"user-agent-only", 2, ua},
		{"request-id-only", 3, rid},
		{"metadata-only", 4, md},
		{"full", 1, full},
		{"empty-event", 0, auditevents.AuditEvent{Timestamp: time.Unix(0, 0), IPAddress: "2001:db8::1"}},
	}
}

// The encoding is a format other programs verify: its bytes must not change
// without a new version. Each golden file holds, for each case, the
// encoding in hex and the leaf hash. Events without actor context keep the
// version 1 bytes they had before version 2 existed, so that no existing
// tree changes.
func TestLeafGolden(t *testing.T) {
	for _, g := range []struct {
		path    string
		version byte
		cases   []leafCase
	}{
		{"testdata/leaf-v1.golden", auditevents.LeafVersion, leafCases()},
		{"testdata/leaf-v2.golden", auditevents.LeafVersionActor, leafActorCases()},
	} {
		var got strings.Builder
		for _, c := range g.cases {
			enc := auditevents.AppendLeaf(nil, c.seq, &c.e)
			fmt.Fprintf(&got, "%s %x %s\n", c.name, enc, auditevents.LeafHash(c.seq, &c.e))
			if h := tlog.RecordHash(enc); h != auditevents.LeafHash(c.seq, &c.e) {
				t.Errorf("%s %s: LeafHash is not the record hash of AppendLeaf", g.path, c.name)
			}
			if enc[0] != g.version {
				t.Errorf("%s %s: first byte %d, want the version %d", g.path, c.name, enc[0], g.version)
			}
		}
		if *update {
			if err := os.WriteFile(g.path, []byte(got.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(g.path)
		if err != nil {
			t.Fatalf("reading the golden file (run with -update to make it): %v", err)
		}
		if got.String() != string(want) {
			t.Errorf("%s: leaf encodings changed; add a new version and a new golden file.\ngot:\n%s\nwant:\n%s", g.path, got.String(), want)
		}
	}
}

// goldenLine returns the encoding of the case named name in the golden file
// at path.
func goldenLine(tb testing.TB, path, name string) []byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if fields[0] != name {
			continue
		}
		b, err := hex.DecodeString(fields[1])
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	tb.Fatalf("no %s line in %s", name, path)
	return nil
}

// leafTexts reads n length-prefixed text fields from b, and returns them and
// the rest of b.
func leafTexts(tb testing.TB, b []byte, n int) ([]string, []byte) {
	tb.Helper()
	var texts []string
	for range n {
		if len(b) < 4 || uint64(len(b)-4) < be(b[:4]) {
			tb.Fatalf("text field %d truncated: %x", len(texts), b)
		}
		l := be(b[:4])
		texts = append(texts, string(b[4:4+l]))
		b = b[4+l:]
	}
	return texts, b
}

// The golden files are also the documented layouts: decode their "full"
// lines by the offsets of AppendLeaf's doc, independently of the encoder.
func TestLeafLayout(t *testing.T) {
	t.Run("v1", func(t *testing.T) {
		b := goldenLine(t, "testdata/leaf-v1.golden", "full")
		e := sample()
		if b[0] != 1 || be(b[1:9]) != 1 || int64(be(b[9:17])) != e.Timestamp.UnixMicro() {
			t.Fatalf("header %x does not match version 1, seq 1, %v", b[:17], e.Timestamp)
		}
		texts, rest := leafTexts(t, b[17:], 8)
		want := []string{e.ID, e.Account, e.User, string(e.Action), string(e.ResourceKind), e.ResourceName, e.Configuration, e.Description}
		if fmt.Sprint(texts) != fmt.Sprint(want) || len(rest) != 0 {
			t.Errorf("text fields %q and %x left, want %q and nothing", texts, rest, want)
		}
	})
	t.Run("v2", func(t *testing.T) {
		b := goldenLine(t, "testdata/leaf-v2.golden", "full")
		e := actorSample()
		if b[0] != 2 || be(b[1:9]) != 1 || int64(be(b[9:17])) != e.Timestamp.UnixMicro() {
			t.Fatalf("header %x does not match version 2, seq 1, %v", b[:17], e.Timestamp)
		}
		texts, rest := leafTexts(t, b[17:], 11)
		want := []string{e.ID, e.Account, e.User, string(e.Action), string(e.ResourceKind), e.ResourceName, e.Configuration, e.Description, e.IPAddress, e.UserAgent, e.RequestID}
		if fmt.Sprint(texts) != fmt.Sprint(want) {
			t.Errorf("text fields %q, want %q", texts, want)
		}
		if len(rest) < 4 || be(rest[:4]) != uint64(len(e.Metadata)) {
			t.Fatalf("metadata count %x, want %d", rest[:min(4, len(rest))], len(e.Metadata))
		}
		entries, rest := leafTexts(t, rest[4:], 2*len(e.Metadata))
		var wantEntries []string
		for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
			wantEntries = append(wantEntries, k, e.Metadata[k])
		}
		if fmt.Sprint(entries) != fmt.Sprint(wantEntries) || len(rest) != 0 {
			t.Errorf("metadata %q and %x left, want %q and nothing", entries, rest, wantEntries)
		}
		// Version 2 is version 1's bytes with another version byte, then
		// the actor fields.
		bare := e
		bare.IPAddress, bare.UserAgent, bare.RequestID, bare.Metadata = "", "", "", nil
		v1 := auditevents.AppendLeaf(nil, 1, &bare)
		if !bytes.Equal(b[1:len(v1)], v1[1:]) {
			t.Errorf("version 2 does not start with version 1's bytes after the version byte")
		}
	})
}

func be(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// Changing any field, by one byte, or the sequence changes the leaf; and so
// does moving bytes from one field to the next.
func TestLeafCoversEveryField(t *testing.T) {
	base := sample()
	leaf := auditevents.LeafHash(3, &base)
	for _, tc := range []struct {
		name   string
		seq    int64
		mutate func(*auditevents.AuditEvent)
	}{
		{"seq", 4, func(*auditevents.AuditEvent) {}},
		{"id", 3, func(e *auditevents.AuditEvent) { e.ID = e.ID[:25] + "1" }},
		{"id case", 3, func(e *auditevents.AuditEvent) { e.ID = strings.ToLower(e.ID) }},
		{"timestamp", 3, func(e *auditevents.AuditEvent) { e.Timestamp = e.Timestamp.Add(time.Microsecond) }},
		{"account", 3, func(e *auditevents.AuditEvent) { e.Account = "acmf" }},
		{"user", 3, func(e *auditevents.AuditEvent) { e.User += " " }},
		{"action", 3, func(e *auditevents.AuditEvent) { e.Action = auditevents.ActionCreated }},
		{"resourceKind", 3, func(e *auditevents.AuditEvent) { e.ResourceKind = auditevents.KindAgent }},
		{"resourceName", 3, func(e *auditevents.AuditEvent) { e.ResourceName = "nginy" }},
		{"configuration", 3, func(e *auditevents.AuditEvent) { e.Configuration = "nginx:4" }},
		{"description", 3, func(e *auditevents.AuditEvent) { e.Description = "" }},
		{"bytes moved between fields", 3, func(e *auditevents.AuditEvent) {
			e.ResourceName, e.Configuration = e.ResourceName+e.Configuration[:1], e.Configuration[1:]
		}},
	} {
		e := base
		tc.mutate(&e)
		if auditevents.LeafHash(tc.seq, &e) == leaf {
			t.Errorf("%s: changing it does not change the leaf", tc.name)
		}
	}
}

// The same holds for every actor field: each one, each metadata key and
// value, and bytes moved between them. Adding a field to an event without
// actor context changes its leaf too (version 1 becomes version 2).
func TestLeafCoversActorFields(t *testing.T) {
	base := actorSample()
	leaf := auditevents.LeafHash(3, &base)
	for _, tc := range []struct {
		name   string
		mutate func(*auditevents.AuditEvent)
	}{
		{"ipAddress", func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.8" }},
		{"ipAddress removed", func(e *auditevents.AuditEvent) { e.IPAddress = "" }},
		{"userAgent", func(e *auditevents.AuditEvent) { e.UserAgent += " " }},
		{"requestId", func(e *auditevents.AuditEvent) { e.RequestID = strings.ToUpper(e.RequestID) }},
		{"metadata value", func(e *auditevents.AuditEvent) { e.Metadata["region"] = "eu-west-2" }},
		{"metadata key", func(e *auditevents.AuditEvent) {
			e.Metadata["Region"] = e.Metadata["region"]
			delete(e.Metadata, "region")
		}},
		{"metadata entry added", func(e *auditevents.AuditEvent) { e.Metadata["z"] = "" }},
		{"metadata entry removed", func(e *auditevents.AuditEvent) { delete(e.Metadata, "region") }},
		{"metadata removed", func(e *auditevents.AuditEvent) { e.Metadata = nil }},
		{"bytes moved from userAgent to requestId", func(e *auditevents.AuditEvent) {
			e.UserAgent, e.RequestID = e.UserAgent[:len(e.UserAgent)-1], e.UserAgent[len(e.UserAgent)-1:]+e.RequestID
		}},
		{"bytes moved from a key to its value", func(e *auditevents.AuditEvent) {
			e.Metadata["regio"] = "n" + e.Metadata["region"]
			delete(e.Metadata, "region")
		}},
		{"request ID moved into the user agent", func(e *auditevents.AuditEvent) {
			e.UserAgent, e.RequestID = e.RequestID, e.UserAgent
		}},
	} {
		e := base
		e.Metadata = maps.Clone(base.Metadata)
		tc.mutate(&e)
		if auditevents.LeafHash(3, &e) == leaf {
			t.Errorf("%s: changing it does not change the leaf", tc.name)
		}
	}
	bare := sample()
	for _, add := range []func(*auditevents.AuditEvent){
		func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.1" },
		func(e *auditevents.AuditEvent) { e.UserAgent = "curl/8" },
		func(e *auditevents.AuditEvent) { e.RequestID = "r" },
		func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": ""} },
	} {
		e := sample()
		add(&e)
		if auditevents.LeafHash(3, &e) == auditevents.LeafHash(3, &bare) {
			t.Errorf("adding an actor field to %+v does not change the leaf", e)
		}
	}
}

// The order in which a map's entries were inserted, which Go does not
// keep, cannot change the leaf.
func TestLeafMetadataOrder(t *testing.T) {
	a, b := sample(), sample()
	a.Metadata, b.Metadata = map[string]string{}, map[string]string{}
	for i := range auditevents.MaxMetadataEntries {
		a.Metadata[fmt.Sprintf("k%02d", i)] = fmt.Sprint(i)
		b.Metadata[fmt.Sprintf("k%02d", auditevents.MaxMetadataEntries-1-i)] = fmt.Sprint(auditevents.MaxMetadataEntries - 1 - i)
	}
	for range 10 {
		if auditevents.LeafHash(1, &a) != auditevents.LeafHash(1, &b) {
			t.Fatal("two equal metadata maps give different leaves")
		}
	}
}

// BenchmarkLeafHash measures the leaf of a typical event without actor
// context (version 1, the baseline of the same run) and with it (version 2:
// an address, a user agent, a request ID and three metadata entries).
func BenchmarkLeafHash(b *testing.B) {
	for _, c := range []struct {
		name string
		e    auditevents.AuditEvent
	}{{"v1", sample()}, {"v2", actorSample()}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(auditevents.AppendLeaf(nil, 1, &c.e))))
			for b.Loop() {
				auditevents.LeafHash(1, &c.e)
			}
		})
	}
}
