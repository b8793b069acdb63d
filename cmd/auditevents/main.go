// Command auditevents verifies an audit log, served by the httpapi package's
// log endpoints or kept in a boltstore file, and makes the keys that sign
// its checkpoints.
//
//	auditevents keygen -name example.com/audit
//	auditevents checkpoint -url https://example.com/v1 -key $API_KEY -out saved.ckpt
//	auditevents checkpoint -file audit.db -skey example.com-audit.key -log example.com/audit -account acme -out saved.ckpt
//	auditevents verify -url https://example.com/v1 -key $API_KEY -vkey example.com-audit.pub -log example.com/audit -account acme [-previous saved.ckpt]
//	auditevents verify -file audit.db -checkpoint saved.ckpt -vkey example.com-audit.pub -log example.com/audit -account acme
//
// keygen writes the signer key (secret) to NAME.key and the verifier key to
// NAME.pub, with the name's slashes made dashes. checkpoint prints the
// current signed checkpoint, the server's or one it signs for a file, and
// saves it. verify checks the checkpoint's signature, reads every event (a
// file is opened read-only), recomputes every leaf and the root, and, given
// a checkpoint saved earlier, checks that the log still holds it; it names
// each sequence that was modified, removed, inserted or moved, a rollback or
// a fork. A file is also scanned for events stored outside the log. It
// prints a progress line on standard error. It exits with status 0 only when
// the log verifies, 1 when it does not, and 2 on a usage or I/O error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/boltstore"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// usage is what auditevents prints when no command, or help, is asked for.
const usage = `usage: auditevents <command> [flags]

commands:
  keygen      make a key pair that signs a log's checkpoints
  checkpoint  print and save the current signed checkpoint of an account's log
  verify      check an account's log against its signed checkpoint

Run auditevents <command> -h for the command's flags.
`

// run runs one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "keygen":
		err = keygen(args[1:], stdout)
	case "checkpoint":
		err = checkpoint(ctx, args[1:], stdout)
	case "verify":
		err = verify(ctx, args[1:], stdout, stderr)
	default:
		err = fmt.Errorf("unknown command %q; want keygen, checkpoint or verify", args[0])
	}
	var te *auditevents.TamperError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp): // the command's flags are printed
		return 0
	case errors.As(err, &te), errors.Is(err, auditevents.ErrCheckpoint):
		fmt.Fprintln(stderr, "FAIL:", err)
		return 1
	default:
		fmt.Fprintln(stderr, "auditevents:", err)
		return 2
	}
}

func keygen(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	name := fs.String("name", "", "the key's name, usually the log name, such as example.com/audit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" {
		return errors.New("-name is required: the key's name, usually the log name, such as example.com/audit")
	}
	skey, vkey, err := auditevents.GenerateKey(*name)
	if err != nil {
		return err
	}
	base := strings.ReplaceAll(*name, "/", "-")
	if err := os.WriteFile(base+".key", []byte(skey+"\n"), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(base+".pub", []byte(vkey+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "signer key (keep secret): %s.key\nverifier key: %s.pub\n%s\n", base, base, vkey)
	return nil
}

// source holds the flags that say where a log is and whose it is: a
// server (-url, -key, -header) or a file (-file), the log's name and the
// account.
type source struct {
	url, key, header, file, log, account *string
}

// sourceFlags defines the source flags on fs.
func sourceFlags(fs *flag.FlagSet, fileUse string) source {
	return source{
		url:     fs.String("url", "", "the server's URL up to the API prefix, such as https://example.com/v1"),
		key:     fs.String("key", "", "the API key"),
		header:  fs.String("header", defaultKeyHeader, "the header the API key is sent in; with Authorization, as a bearer token"),
		file:    fs.String("file", "", fileUse),
		log:     fs.String("log", "", "the log's name, such as example.com/audit"),
		account: fs.String("account", "", "the account"),
	}
}

// defaultKeyHeader is the header Bindplane, and examples/server, read the
// API key from.
const defaultKeyHeader = "X-Bindplane-Api-Key"

// client returns a LogClient for the server flags: the key is sent in the
// header, as a bearer token when the header is Authorization.
func (src source) client() (*httpapi.LogClient, error) {
	if *src.url == "" {
		return nil, errors.New("-url or -file is required")
	}
	// The account is sent too: a server without Authorize reads it, one
	// with Authorize refuses an account its credentials may not read.
	c := &httpapi.LogClient{BaseURL: strings.TrimRight(*src.url, "/"), Header: http.Header{}, Account: *src.account}
	if key := *src.key; key != "" {
		if http.CanonicalHeaderKey(*src.header) == "Authorization" {
			key = "Bearer " + key
		}
		c.Header.Set(*src.header, key)
	}
	return c, nil
}

// open opens the -file store read-only.
func (src source) open() (*boltstore.Store, error) {
	return boltstore.Open(*src.file, &boltstore.Options{ReadOnly: true, Timeout: 5 * time.Second})
}

// readKey reads the key in the file named by flag and parses it with parse.
func readKey[T any](flag, path string, parse func(string) (T, error)) (T, error) {
	var zero T
	b, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("reading the key of %s: %w", flag, err)
	}
	k, err := parse(strings.TrimSpace(string(b)))
	if err != nil {
		return zero, fmt.Errorf("the key in %s: %w", path, err)
	}
	return k, nil
}

func checkpoint(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("checkpoint", flag.ContinueOnError)
	src := sourceFlags(fs, "a boltstore file to sign a checkpoint of, opened read-only, instead of -url")
	skeyFile := fs.String("skey", "", "with -file: the file holding the signer key")
	out := fs.String("out", "", "a file to save the checkpoint to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var msg []byte
	if *src.file != "" {
		signer, err := readKey("-skey", *skeyFile, note.NewSigner)
		if err != nil {
			return err
		}
		if *src.log == "" {
			return errors.New("-log is required with -file")
		}
		s, err := src.open()
		if err != nil {
			return err
		}
		defer s.Close()
		if msg, _, err = auditevents.MakeCheckpoint(ctx, s, *src.log, *src.account, signer); err != nil {
			return err
		}
	} else {
		c, err := src.client()
		if err != nil {
			return err
		}
		if msg, err = c.Checkpoint(ctx); err != nil {
			return err
		}
	}
	if *out != "" {
		if err := os.WriteFile(*out, msg, 0o644); err != nil {
			return err
		}
	}
	_, err := stdout.Write(msg)
	return err
}

func verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	src := sourceFlags(fs, "a boltstore file to verify, opened read-only, instead of -url")
	vkeyFile := fs.String("vkey", "", "the file holding the log's verifier key")
	cpFile := fs.String("checkpoint", "", "verify against this saved checkpoint instead of the server's current one")
	prevFile := fs.String("previous", "", "a checkpoint saved earlier that the log must still hold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	verifier, err := readKey("-vkey", *vkeyFile, note.NewVerifier)
	if err != nil {
		return err
	}
	opts := auditevents.VerifyOptions{Verifier: verifier}
	if *src.log != "" {
		opts.Origin = auditevents.Origin(*src.log, *src.account)
	} else if *src.account != "" {
		return errors.New("-account needs -log, the log's name: the checkpoint's origin names the log and the account, and is what says whose log was verified")
	}
	var log auditevents.LogReader
	if *src.file != "" {
		if *cpFile == "" {
			return errors.New("-checkpoint is required with -file: a checkpoint saved by `auditevents checkpoint`")
		}
		s, err := src.open()
		if err != nil {
			return err
		}
		defer s.Close()
		log = auditevents.AccountLog(s, *src.account)
		opts.Events = accountEvents(ctx, s, *src.account)
	} else {
		c, err := src.client()
		if err != nil {
			return err
		}
		log = c
		if *cpFile == "" {
			if opts.Checkpoint, err = c.Checkpoint(ctx); err != nil {
				return err
			}
		}
	}
	if *cpFile != "" {
		if opts.Checkpoint, err = os.ReadFile(*cpFile); err != nil {
			return err
		}
	}
	if *prevFile != "" {
		if opts.Previous, err = os.ReadFile(*prevFile); err != nil {
			return err
		}
	}
	opts.Progress = func(done, total int64) {
		fmt.Fprintf(stderr, "\rverified %d of %d sequences", done, total)
		if done == total {
			fmt.Fprintln(stderr)
		}
	}
	rep, err := auditevents.Verify(ctx, log, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "OK: %s, size %d: %d events verified, %d pruned\n", rep.Checkpoint.Origin, rep.Checkpoint.Size, rep.Events, rep.PrunedCount())
	for _, p := range rep.Pruned {
		where := "the prefix"
		if p.Seq > 0 {
			where = "after retained events (an event imported with an old timestamp, or deleted by hand)"
		}
		fmt.Fprintf(stdout, "pruned: sequences %d to %d, %s\n", p.Seq, p.Seq+p.Pruned-1, where)
	}
	return nil
}

// accountEvents streams every event of the account that a scan of the
// store finds, index or not, for VerifyOptions.Events.
func accountEvents(ctx context.Context, s auditevents.Store, account string) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		for e, err := range s.Query(ctx, auditevents.Query{}) {
			if err != nil || e.Account == account {
				if !yield(e, err) {
					return
				}
			}
		}
	}
}
