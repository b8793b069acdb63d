package auditevents

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the signed statement of a log's size and root hash, in the
// C2SP tlog-checkpoint format (https://c2sp.org/tlog-checkpoint), as
// Certificate Transparency's and the Go checksum database's witnesses read
// it. Its text, the body of a signed note, is three lines:
//
//	example.com/audit/acme
//	1000000
//	n3rv5VDDTtHGHs5p9wjCJnYB7g0l4t7l1Ul7YKr3AXY=
//
// the origin, the tree size in decimal and the root hash in standard base64,
// each ending in a newline, then any extension lines.
type Checkpoint struct {
	// Origin names the log: the host's log name and the account, as
	// [Origin] makes it. It is one line of UTF-8, not empty.
	Origin string
	// Size is the number of leaves in the tree, the log's next sequence.
	Size int64
	// Hash is the root hash of the tree of Size leaves.
	Hash tlog.Hash
	// Extensions are the lines after the root hash, without their
	// newlines; nil for the checkpoints this package makes. Verifiers
	// that do not know them ignore them.
	Extensions []string
}

// Origin returns the origin of the checkpoints of an account's log: the
// host's log name, such as "example.com/audit", then a slash and the account
// escaped as a URL path segment, such as "example.com/audit/acme". The empty
// account (single-account installs) is the log name alone. A host gives each
// of its logs a name of its own, so that no checkpoint of one can pass for
// one of another.
func Origin(logName, account string) string {
	if account == "" {
		return logName
	}
	return logName + "/" + url.PathEscape(account)
}

// Text returns the checkpoint's text, the body of its signed note. It
// returns an error wrapping [ErrCheckpoint] when the origin is empty or
// holds a newline, the size is negative, or an extension line is empty or
// holds a newline.
func (c Checkpoint) Text() (string, error) {
	if c.Origin == "" || strings.ContainsAny(c.Origin, "\n") {
		return "", fmt.Errorf("%w: origin %s must be one line, not empty", ErrCheckpoint, quote(c.Origin))
	}
	if c.Size < 0 {
		return "", fmt.Errorf("%w: negative tree size %d", ErrCheckpoint, c.Size)
	}
	var b strings.Builder
	b.WriteString(c.Origin)
	b.WriteByte('\n')
	b.WriteString(strconv.FormatInt(c.Size, 10))
	b.WriteByte('\n')
	b.WriteString(base64.StdEncoding.EncodeToString(c.Hash[:]))
	b.WriteByte('\n')
	for _, e := range c.Extensions {
		if e == "" || strings.ContainsAny(e, "\n") {
			return "", fmt.Errorf("%w: extension line %s must be one line, not empty", ErrCheckpoint, quote(e))
		}
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// ParseCheckpoint parses the text of a checkpoint (the body of its note,
// not the signed note: see [OpenCheckpoint]). It returns an error wrapping
// [ErrCheckpoint] that names the line that is wrong: an empty origin, a size
// that is not a decimal without leading zeros, a root hash that is not the
// base64 of 32 bytes, or text that does not end in a newline.
func ParseCheckpoint(text string) (Checkpoint, error) {
	if !strings.HasSuffix(text, "\n") {
		return Checkpoint{}, fmt.Errorf("%w: text does not end in a newline", ErrCheckpoint)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) < 3 {
		return Checkpoint{}, fmt.Errorf("%w: %d lines, want an origin, a tree size and a root hash", ErrCheckpoint, len(lines))
	}
	c := Checkpoint{Origin: lines[0]}
	if c.Origin == "" {
		return Checkpoint{}, fmt.Errorf("%w: empty origin line", ErrCheckpoint)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || (len(lines[1]) > 1 && lines[1][0] == '0') || lines[1][0] == '+' {
		return Checkpoint{}, fmt.Errorf("%w: tree size line %s is not a decimal number without leading zeros", ErrCheckpoint, quote(lines[1]))
	}
	c.Size = size
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize {
		return Checkpoint{}, fmt.Errorf("%w: root hash line %s is not the standard base64 of %d bytes", ErrCheckpoint, quote(lines[2]), tlog.HashSize)
	}
	copy(c.Hash[:], h)
	for _, e := range lines[3:] {
		if e == "" {
			return Checkpoint{}, fmt.Errorf("%w: empty extension line", ErrCheckpoint)
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// SignCheckpoint returns c as a signed note: its text, a blank line and a
// signature line by signer (see golang.org/x/mod/sumdb/note). It returns the
// errors of [Checkpoint.Text] and of the signer.
func SignCheckpoint(c Checkpoint, signer note.Signer) ([]byte, error) {
	text, err := c.Text()
	if err != nil {
		return nil, err
	}
	msg, err := note.Sign(&note.Note{Text: text}, signer)
	if err != nil {
		return nil, fmt.Errorf("auditevents: signing a checkpoint: %w", err)
	}
	return msg, nil
}

// OpenCheckpoint verifies the signed note msg with verifier, parses its text
// and checks that it names the log origin (any origin when origin is
// empty). It returns an error wrapping
// [ErrCheckpoint] that says what is wrong: the note is malformed, no
// signature is by the verifier's key, the signature does not verify, the
// text is not a checkpoint ([ParseCheckpoint]), or its origin is another.
func OpenCheckpoint(msg []byte, verifier note.Verifier, origin string) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(verifier))
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		switch {
		case errors.As(err, &unverified):
			return Checkpoint{}, fmt.Errorf("%w: not signed by key %s", ErrCheckpoint, quote(verifier.Name()))
		case errors.As(err, &invalid):
			return Checkpoint{}, fmt.Errorf("%w: the signature by key %s does not verify: the checkpoint was altered", ErrCheckpoint, quote(verifier.Name()))
		}
		return Checkpoint{}, fmt.Errorf("%w: %v", ErrCheckpoint, err)
	}
	c, err := ParseCheckpoint(n.Text)
	if err != nil {
		return Checkpoint{}, err
	}
	if origin != "" && c.Origin != origin {
		return Checkpoint{}, fmt.Errorf("%w: origin %s, want %s", ErrCheckpoint, quote(c.Origin), quote(origin))
	}
	return c, nil
}

// MakeCheckpoint returns a signed checkpoint of the account's log at its
// current size, with origin [Origin](logName, account), and the checkpoint
// itself. It may be called at any time, concurrently with appends; it
// returns the store's and the signer's errors.
func MakeCheckpoint(ctx context.Context, l Ledger, logName, account string, signer note.Signer) ([]byte, Checkpoint, error) {
	size, root, err := TreeHead(ctx, l, account)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	c := Checkpoint{Origin: Origin(logName, account), Size: size, Hash: root}
	msg, err := SignCheckpoint(c, signer)
	if err != nil {
		return nil, Checkpoint{}, err
	}
	return msg, c, nil
}

// GenerateKey returns a new Ed25519 key pair for signing checkpoints, in the
// text forms of golang.org/x/mod/sumdb/note: the signer key
// ("PRIVATE+KEY+name+…", to keep secret, for note.NewSigner) and the verifier
// key ("name+…", to publish, for note.NewVerifier). name, usually the log
// name, identifies the key in signature lines; it must be non-empty and hold
// no space or "+". It reads crypto/rand.
func GenerateKey(name string) (signerKey, verifierKey string, err error) {
	if name == "" || strings.ContainsAny(name, " +") || !utf8.ValidString(name) {
		return "", "", fmt.Errorf("auditevents: a key name must be non-empty UTF-8 without spaces or \"+\", such as the log name example.com/audit; got %s", quote(name))
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", "", fmt.Errorf("auditevents: generating a key named %s: %w", quote(name), err)
	}
	return skey, vkey, nil
}
