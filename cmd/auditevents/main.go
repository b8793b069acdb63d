// Command auditevents verifies an audit log served by the httpapi package's
// log endpoints, and makes the keys that sign its checkpoints.
//
//	auditevents keygen -name example.com/audit
//	auditevents checkpoint -url https://example.com/v1 -key $API_KEY -out saved.ckpt
//	auditevents verify -url https://example.com/v1 -key $API_KEY -vkey log.pub -log example.com/audit -account acme [-previous saved.ckpt]
//
// keygen writes the signer key (secret) to NAME.key and the verifier key to
// NAME.pub, with the name's slashes made dashes. checkpoint prints the
// server's current signed checkpoint and saves it. verify checks the
// checkpoint's signature, reads every event, recomputes every leaf and the
// root, and, given a checkpoint saved earlier, checks that the log still
// holds it; it names each sequence that was modified, removed, inserted or
// moved, a rollback or a fork. It exits with status 0 only when the log
// verifies, 1 when it does not, and 2 on a usage or I/O error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs one command and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: auditevents keygen|checkpoint|verify [flags]")
		return 2
	}
	var err error
	switch args[0] {
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

// client returns a LogClient for the -url and -key flags.
func client(url, key string) (*httpapi.LogClient, error) {
	if url == "" {
		return nil, errors.New("-url is required, such as https://example.com/v1")
	}
	c := &httpapi.LogClient{BaseURL: strings.TrimRight(url, "/"), Header: http.Header{}}
	if key != "" {
		c.Header.Set("Authorization", "Bearer "+key)
	}
	return c, nil
}

func checkpoint(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("checkpoint", flag.ContinueOnError)
	url := fs.String("url", "", "the server's URL up to the API prefix")
	key := fs.String("key", "", "the API key, sent as a bearer token")
	out := fs.String("out", "", "a file to save the checkpoint to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	c, err := client(*url, *key)
	if err != nil {
		return err
	}
	msg, err := c.Checkpoint(ctx)
	if err != nil {
		return err
	}
	if *out != "" {
		if err := os.WriteFile(*out, msg, 0o644); err != nil {
			return err
		}
	}
	_, err = stdout.Write(msg)
	return err
}

func verify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	url := fs.String("url", "", "the server's URL up to the API prefix")
	key := fs.String("key", "", "the API key, sent as a bearer token")
	vkeyFile := fs.String("vkey", "", "the file holding the log's verifier key")
	logName := fs.String("log", "", "the log's name, such as example.com/audit")
	account := fs.String("account", "", "the account whose log is verified")
	cpFile := fs.String("checkpoint", "", "verify against this saved checkpoint instead of the server's current one")
	prevFile := fs.String("previous", "", "a checkpoint saved earlier that the log must still hold")
	if err := fs.Parse(args); err != nil {
		return err
	}
	vkey, err := os.ReadFile(*vkeyFile)
	if err != nil {
		return fmt.Errorf("reading the verifier key (-vkey): %w", err)
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	if err != nil {
		return fmt.Errorf("the verifier key in %s: %w", *vkeyFile, err)
	}
	c, err := client(*url, *key)
	if err != nil {
		return err
	}
	opts := auditevents.VerifyOptions{Verifier: verifier, Origin: auditevents.Origin(*logName, *account)}
	if *logName == "" {
		opts.Origin = ""
	}
	if *cpFile != "" {
		opts.Checkpoint, err = os.ReadFile(*cpFile)
	} else {
		opts.Checkpoint, err = c.Checkpoint(ctx)
	}
	if err != nil {
		return err
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
	rep, err := auditevents.Verify(ctx, c, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "OK: %s, size %d: %d events verified, %d pruned\n", rep.Checkpoint.Origin, rep.Checkpoint.Size, rep.Events, rep.PrunedCount())
	return nil
}
