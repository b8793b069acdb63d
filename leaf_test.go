package auditevents_test

import (
	"bufio"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// leafCases are the events whose encodings testdata/leaf-v1.golden holds.
func leafCases() []struct {
	name string
	seq  int64
	e    auditevents.AuditEvent
} {
	full := sample()
	unicode := sample()
	unicode.User, unicode.Description = "zoë@example.com", "Ünïcödé ✓ \"quoted\", comma"
	old := sample()
	old.Timestamp = time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC)
	return []struct {
		name string
		seq  int64
		e    auditevents.AuditEvent
	}{
		{"empty", 0, auditevents.AuditEvent{Timestamp: time.Unix(0, 0)}},
		{"full", 1, full},
		{"unicode", 1 << 40, unicode},
		{"before-1970", 7, old},
	}
}

// The encoding is a format other programs verify: its bytes must not change
// without a new version. The golden file holds, for each case, the encoding
// in hex and the leaf hash.
func TestLeafGolden(t *testing.T) {
	const path = "testdata/leaf-v1.golden"
	var got strings.Builder
	for _, c := range leafCases() {
		enc := auditevents.AppendLeaf(nil, c.seq, &c.e)
		fmt.Fprintf(&got, "%s %x %s\n", c.name, enc, auditevents.LeafHash(c.seq, &c.e))
		if h := tlog.RecordHash(enc); h != auditevents.LeafHash(c.seq, &c.e) {
			t.Errorf("%s: LeafHash is not the record hash of AppendLeaf", c.name)
		}
		if enc[0] != auditevents.LeafVersion {
			t.Errorf("%s: first byte %d, want the version %d", c.name, enc[0], auditevents.LeafVersion)
		}
	}
	if *update {
		if err := os.WriteFile(path, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading the golden file (run with -update to make it): %v", err)
	}
	if got.String() != string(want) {
		t.Errorf("leaf encodings changed; bump LeafVersion and add a new golden file.\ngot:\n%s\nwant:\n%s", got.String(), want)
	}
}

// The golden file is also the documented layout: decode its "full" line by
// the offsets of AppendLeaf's doc, independently of the encoder.
func TestLeafLayout(t *testing.T) {
	f, err := os.Open("testdata/leaf-v1.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if fields[0] != "full" {
			continue
		}
		b, err := hex.DecodeString(fields[1])
		if err != nil {
			t.Fatal(err)
		}
		e := sample()
		if b[0] != 1 || be(b[1:9]) != 1 || int64(be(b[9:17])) != e.Timestamp.UnixMicro() {
			t.Fatalf("header %x does not match version 1, seq 1, %v", b[:17], e.Timestamp)
		}
		rest := b[17:]
		var texts []string
		for len(rest) > 0 {
			n := be(rest[:4])
			texts = append(texts, string(rest[4:4+n]))
			rest = rest[4+n:]
		}
		want := []string{e.ID, e.Account, e.User, string(e.Action), string(e.ResourceKind), e.ResourceName, e.Configuration, e.Description}
		if fmt.Sprint(texts) != fmt.Sprint(want) {
			t.Errorf("text fields %q, want %q", texts, want)
		}
		return
	}
	t.Fatal("no full line in the golden file")
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
