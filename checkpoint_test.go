package auditevents_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// testKeys returns a signer and a verifier for the log "example.com/audit".
func testKeys(tb testing.TB) (note.Signer, note.Verifier) {
	tb.Helper()
	skey, vkey, err := auditevents.GenerateKey("example.com/audit")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		tb.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		tb.Fatal(err)
	}
	return s, v
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct{ log, account, want string }{
		{"example.com/audit", "", "example.com/audit"},
		{"example.com/audit", "acme", "example.com/audit/acme"},
		{"example.com/audit", "a/b c", "example.com/audit/a%2Fb%20c"},
	} {
		if got := auditevents.Origin(tc.log, tc.account); got != tc.want {
			t.Errorf("Origin(%q, %q) = %q, want %q", tc.log, tc.account, got, tc.want)
		}
	}
}

// A checkpoint made from a store is a C2SP checkpoint that note.Open, with
// no code of this package, accepts, and whose root is the store's tree hash.
func TestMakeCheckpoint(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	e := sample()
	if err := s.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	signer, verifier := testKeys(t)
	msg, c, err := auditevents.MakeCheckpoint(ctx, s, "example.com/audit", "acme", signer)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("note.Open: %v", err)
	}
	leaf := auditevents.LeafHash(0, &e) // the tree of one leaf is the leaf
	want := "example.com/audit/acme\n1\n" + leaf.String() + "\n"
	if n.Text != want {
		t.Errorf("checkpoint text %q, want %q", n.Text, want)
	}
	if c.Size != 1 || c.Hash != leaf {
		t.Errorf("checkpoint %+v, want size 1 and the leaf as root", c)
	}
	got, err := auditevents.OpenCheckpoint(msg, verifier, "example.com/audit/acme")
	if err != nil || got.Size != 1 || got.Hash != leaf {
		t.Errorf("OpenCheckpoint = %+v, %v", got, err)
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	signer, verifier := testKeys(t)
	_, otherVerifier := testKeys(t)
	good, err := auditevents.SignCheckpoint(auditevents.Checkpoint{Origin: "o", Size: 2, Hash: tlog.RecordHash(nil)}, signer)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(text string) []byte {
		msg, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return msg
	}
	root := tlog.RecordHash(nil).String()
	for _, tc := range []struct {
		name     string
		msg      []byte
		verifier note.Verifier
		origin   string
		says     string
	}{
		{"altered size", []byte(strings.Replace(string(good), "\n2\n", "\n3\n", 1)), verifier, "o", "does not verify"},
		{"other key", good, otherVerifier, "o", "not signed by"},
		{"other origin", good, verifier, "p", `origin "o", want "p"`},
		{"not a note", []byte("hello"), verifier, "", "malformed"},
		{"two lines", sign("o\n2\n"), verifier, "", "2 lines"},
		{"leading zero", sign("o\n02\n" + root + "\n"), verifier, "", "tree size line"},
		{"negative size", sign("o\n-2\n" + root + "\n"), verifier, "", "tree size line"},
		{"short hash", sign("o\n2\nAAAA\n"), verifier, "", "root hash line"},
		{"empty origin", sign("\n2\n" + root + "\n"), verifier, "", "empty origin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := auditevents.OpenCheckpoint(tc.msg, tc.verifier, tc.origin)
			if !errors.Is(err, auditevents.ErrCheckpoint) || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want ErrCheckpoint saying %q", err, tc.says)
			}
		})
	}
}

func TestCheckpointTextRoundTrip(t *testing.T) {
	c := auditevents.Checkpoint{Origin: "example.com/audit", Size: 1000000, Hash: tlog.RecordHash([]byte("x")), Extensions: []string{"ext one"}}
	text, err := c.Text()
	if err != nil {
		t.Fatal(err)
	}
	got, err := auditevents.ParseCheckpoint(text)
	if err != nil {
		t.Fatal(err)
	}
	if got.Origin != c.Origin || got.Size != c.Size || got.Hash != c.Hash || len(got.Extensions) != 1 || got.Extensions[0] != "ext one" {
		t.Errorf("round trip gave %+v, want %+v", got, c)
	}
	for _, bad := range []auditevents.Checkpoint{{Origin: ""}, {Origin: "a\nb"}, {Origin: "a", Size: -1}, {Origin: "a", Extensions: []string{""}}} {
		if _, err := bad.Text(); !errors.Is(err, auditevents.ErrCheckpoint) {
			t.Errorf("%+v.Text() = %v, want ErrCheckpoint", bad, err)
		}
	}
}

// Proofs from a store check with tlog's own CheckRecord and CheckTree
// against checkpoints, and sizes beyond the tree are input errors.
func TestProofs(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	defer s.Close()
	events := testEvents(100, "acme")
	if err := s.Append(ctx, events[:40]...); err != nil {
		t.Fatal(err)
	}
	_, old, err := auditevents.TreeHead(ctx, s, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, events[40:]...); err != nil {
		t.Fatal(err)
	}
	size, root, err := auditevents.TreeHead(ctx, s, "acme")
	if err != nil || size != 100 {
		t.Fatalf("TreeHead = %d, %v", size, err)
	}
	for _, seq := range []int64{0, 39, 40, 99} {
		p, err := auditevents.ProveInclusion(ctx, s, "acme", seq, size)
		if err != nil {
			t.Fatal(err)
		}
		if err := tlog.CheckRecord(p, size, root, seq, auditevents.LeafHash(seq, &events[seq])); err != nil {
			t.Errorf("inclusion of %d: %v", seq, err)
		}
		if err := tlog.CheckRecord(p, size, root, seq, auditevents.LeafHash(seq+1, &events[seq])); err == nil {
			t.Errorf("inclusion of %d checks for the event at another sequence", seq)
		}
	}
	p, err := auditevents.ProveConsistency(ctx, s, "acme", 40, 100)
	if err != nil {
		t.Fatal(err)
	}
	if err := tlog.CheckTree(p, 100, root, 40, old); err != nil {
		t.Errorf("consistency 40..100: %v", err)
	}
	for _, tc := range []struct {
		name  string
		err   error
		param string
	}{
		{"seq beyond size", errOf(auditevents.ProveInclusion(ctx, s, "acme", 50, 50)), "seq"},
		{"size beyond tree", errOf(auditevents.ProveInclusion(ctx, s, "acme", 0, 101)), "size"},
		{"unknown account", errOf(auditevents.ProveInclusion(ctx, s, "other", 0, 1)), "size"},
		{"to beyond tree", errOf(auditevents.ProveConsistency(ctx, s, "acme", 1, 101)), "to"},
		{"from above to", errOf(auditevents.ProveConsistency(ctx, s, "acme", 60, 50)), "from"},
		{"negative from", errOf(auditevents.ProveConsistency(ctx, s, "acme", -1, 50)), "from"},
	} {
		var qe *auditevents.QueryError
		if !errors.As(tc.err, &qe) || qe.Param != tc.param {
			t.Errorf("%s: err = %v, want a QueryError for %q", tc.name, tc.err, tc.param)
		}
	}
}

func errOf[T any](_ T, err error) error { return err }

// A key's name is what its signature lines carry: a name that note would
// accept but no verifier line could hold, or an empty one, is refused with
// an error that says what a name must be, never written into a key.
func TestGenerateKeyRejectsNames(t *testing.T) {
	for _, name := range []string{"", "example.com audit", "example.com+audit", "\xff"} {
		if skey, vkey, err := auditevents.GenerateKey(name); err == nil || !strings.Contains(err.Error(), "key name") {
			t.Errorf("GenerateKey(%q) = %q, %q, %v; want an error naming what a key name must be", name, skey, vkey, err)
		}
	}
}
