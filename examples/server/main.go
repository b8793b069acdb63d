// Command server is a small host service that keeps an audit trail with
// auditevents: it stores events in an embedded bbolt file, records events
// from its own handlers, and serves Bindplane's audit events API beside its
// own routes on one ServeMux.
//
//	go run ./examples/server
//
// It prints first the URL of the audit log viewer, a page at
// /v1/audit-events/viewer/ that asks for one of the API keys below in a
// sign-in form and shows that key's account's events.
//
// Flags:
//
//	-addr       address to listen on (default 127.0.0.1:8080)
//	-db         bbolt file (default audit.db in the working folder)
//	-keys       comma-separated key=account pairs (default demo-key=demo)
//	-seed       fill an empty store with N demo events over the past 30 days (default 200; 0 for none)
//	-retention  delete events older than this (default 720h, Bindplane's 30 days; 0 keeps everything)
//	-envelope   answer lists under /v1 as {"auditEvents": [...]}, as Bindplane's collector expects
//	-envelope-prefix  also serve the lists as {"auditEvents": [...]} under this prefix + /v1
//	            (such as /collector), for Bindplane's collector, beside the spec's arrays under /v1
//	-idle-timeout  close a connection idle, or with a request half sent, after this long (default 1m)
//	-log-name   the verifiable log's name (default localhost/audit)
//	-signer-key the file of the checkpoint signer key, from `auditevents keygen`
//	            (default: a new key at each start, its verifier key logged)
//	-forward    POST every account's events, as they are recorded, to this webhook URL
//	-forward-secret  the webhook's HMAC-SHA256 secret (default: $AUDITEVENTS_FORWARD_SECRET)
//	-forward-format  jsonl (default) or cloudevents
//	-forward-name    the name the forwarder keeps its positions under (default: webhook)
//	-trusted-proxies comma-separated addresses or networks of the reverse proxies in front of
//	            the server, whose X-Forwarded-For it believes (default: none, as a server
//	            that clients reach directly must)
//	-audit-reads record every request to the audit API as an event of its own (kind AuditTrail)
//
// It serves the live tail too, /v1/audit-events/tail: the caller's account's
// new events as Server-Sent Events (curl -N, or EventSource in a browser).
//
// With -forward, a forwarder runs beside the store and delivers every
// account's events to the webhook at least once, signed in the
// Auditevents-Signature header when a secret is set (check it with
// forward.VerifySignature). The forwarder keeps its positions in the bbolt
// file (boltstore implements auditevents.Positions): after a restart, or a
// crash, forwarding resumes at the first batch the webhook had not
// acknowledged. The positions are kept under -forward-name whatever the
// URL: start with a new name to send every event again, to a new receiver.
//
// Every request passes through httpapi.ActorMiddleware, so the events the
// server records for its configuration changes carry the client's IP
// address, its User-Agent and the request's ID: the X-Request-ID header
// when the client sends a valid one, a new ID otherwise, echoed in the
// response's X-Request-ID. The address is the connection's peer, or with
// -trusted-proxies the right-most address of X-Forwarded-For that is not
// one of those proxies. With -audit-reads, each read of the audit trail
// (listings, downloads, tails, proofs) is recorded too, by
// httpapi.Options.OnRead.
//
// Every request to /v1 carries an API key in the X-Bindplane-Api-Key header,
// as Bindplane's clients send it. A key maps to an account; the caller sees
// and records only that account's events. The verifiable log's endpoints
// (/v1/audit-events/log/...) serve signed checkpoints and proofs, which
// `go run ./cmd/auditevents verify` checks.
//
// The server is hardened as a service on a network should be: a request's
// headers must arrive within 10 seconds (or the idle timeout, if shorter)
// and its body within 30; a connection idle between requests, or with the
// next request half sent, is closed after the idle timeout; headers are
// limited to 16 KiB; and a response must be written within 30 seconds,
// except the audit API's, whose every write gets 30 seconds of its own
// (httpapi.Options.WriteTimeout), so a long download goes on while it
// moves and a client that stops reading is dropped.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/store/boltstore"
	"golang.org/x/mod/sumdb/note"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "server:", err)
		os.Exit(1)
	}
}

// config is what the flags say.
type config struct {
	addr      string
	db        string
	keys      map[string]string // API key -> account
	seed      int
	retention time.Duration
	envelope  bool
	// envelopePrefix, when set, is where the lists are also served in
	// the envelope, below envelopePrefix+"/v1".
	envelopePrefix string
	idleTimeout    time.Duration
	logName        string // the verifiable log's name
	signerKey      string // the file of the checkpoint signer key; "" for a new key
	// forward, when set, is the webhook URL the events are forwarded to,
	// with forwardSecret and forwardFormat.
	forward       string
	forwardSecret string
	forwardFormat string
	forwardName   string // the forwarder's route: its positions' name
	// trustedProxies are the networks of the reverse proxies whose
	// X-Forwarded-For the actor middleware believes.
	trustedProxies []netip.Prefix
	auditReads     bool // record each read of the audit API
}

// secretEnv names the variable that holds the webhook's secret when
// -forward-secret is not given, so that it need not show in the process
// list.
const secretEnv = "AUDITEVENTS_FORWARD_SECRET"

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	fs.StringVar(&c.db, "db", "audit.db", "bbolt file that keeps the events")
	keys := fs.String("keys", "demo-key=demo", "comma-separated API key=account pairs")
	fs.IntVar(&c.seed, "seed", 200, "fill an empty store with this many demo events (0 for none)")
	fs.DurationVar(&c.retention, "retention", 30*24*time.Hour, "delete events older than this (0 keeps everything)")
	fs.BoolVar(&c.envelope, "envelope", false, `answer lists under /v1 as {"auditEvents": [...]} for Bindplane's collector`)
	fs.StringVar(&c.envelopePrefix, "envelope-prefix", "", `also serve the lists as {"auditEvents": [...]} under this prefix + /v1, such as /collector, for Bindplane's collector`)
	fs.DurationVar(&c.idleTimeout, "idle-timeout", time.Minute, "close a connection idle, or with a request half sent, after this long")
	fs.StringVar(&c.logName, "log-name", "localhost/audit", "the verifiable log's name, which begins its checkpoints' origins")
	fs.StringVar(&c.signerKey, "signer-key", "", "the file of the key that signs checkpoints (auditevents keygen); empty makes a new key at each start and logs its verifier key")
	fs.StringVar(&c.forward, "forward", "", "POST every account's events to this webhook URL, as they are recorded")
	fs.StringVar(&c.forwardSecret, "forward-secret", "", "the webhook's HMAC-SHA256 secret (default $"+secretEnv+")")
	fs.StringVar(&c.forwardFormat, "forward-format", "jsonl", "the webhook's body: jsonl or cloudevents")
	fs.StringVar(&c.forwardName, "forward-name", "webhook", "the name the forwarder keeps its positions under, in the bbolt file; a new name sends every event again")
	proxies := fs.String("trusted-proxies", "", "comma-separated addresses or networks (10.0.0.0/8) of the reverse proxies in front of the server, whose X-Forwarded-For is believed; empty believes no one")
	fs.BoolVar(&c.auditReads, "audit-reads", false, "record every request to the audit API as an event of its own, of the kind AuditTrail")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var err error
	if c.keys, err = parseKeys(*keys); err != nil {
		return c, err
	}
	if c.trustedProxies, err = parseProxies(*proxies); err != nil {
		return c, err
	}
	if c.seed < 0 {
		return c, fmt.Errorf("-seed %d: want 0 or more", c.seed)
	}
	if c.retention < 0 {
		return c, fmt.Errorf("-retention %s: want 0 or more", c.retention)
	}
	if c.idleTimeout <= 0 {
		return c, fmt.Errorf("-idle-timeout %s: want more than 0", c.idleTimeout)
	}
	if p := c.envelopePrefix; p != "" && (!strings.HasPrefix(p, "/") || strings.TrimRight(p, "/") == "") {
		return c, fmt.Errorf("-envelope-prefix %q: want a path such as /collector", p)
	}
	if c.forwardSecret == "" { // read here, so that -h never prints it
		c.forwardSecret = os.Getenv(secretEnv)
	}
	if c.forwardFormat != "jsonl" && c.forwardFormat != "cloudevents" {
		return c, fmt.Errorf("-forward-format %q: want jsonl or cloudevents", c.forwardFormat)
	}
	if err := auditevents.CheckPosition(c.forwardName, 0, 0); err != nil {
		return c, fmt.Errorf("-forward-name: %w", err)
	}
	if c.forward != "" {
		if _, err := newWebhook(c); err != nil {
			return c, fmt.Errorf("-forward: %w", err)
		}
	}
	return c, nil
}

// parseKeys reads "key=account,key2=account2". An account may be empty, as
// in single-account installs.
func parseKeys(s string) (map[string]string, error) {
	keys := make(map[string]string)
	for _, pair := range strings.Split(s, ",") {
		key, account, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("-keys: %q is not key=account", pair)
		}
		if _, dup := keys[key]; dup {
			return nil, fmt.Errorf("-keys: key %q given twice", key)
		}
		keys[key] = account
	}
	return keys, nil
}

// parseProxies reads "10.0.0.0/8,192.0.2.10": networks, or addresses as
// networks of one address.
func parseProxies(s string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, err2 := netip.ParseAddr(f)
			if err2 != nil {
				return nil, fmt.Errorf("-trusted-proxies: %q is not an address or a network such as 10.0.0.0/8", f)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		prefixes = append(prefixes, p.Masked())
	}
	return prefixes, nil
}

// checkpointSigner reads the signer key of -signer-key, or makes a new key
// pair and logs the verifier key that `auditevents verify -vkey` needs.
func checkpointSigner(cfg config, logger *slog.Logger) (note.Signer, error) {
	var skey string
	if cfg.signerKey != "" {
		b, err := os.ReadFile(cfg.signerKey)
		if err != nil {
			return nil, fmt.Errorf("-signer-key: %w", err)
		}
		skey = strings.TrimSpace(string(b))
	} else {
		var vkey string
		var err error
		if skey, vkey, err = auditevents.GenerateKey(cfg.logName); err != nil {
			return nil, fmt.Errorf("-log-name: %w", err)
		}
		logger.Info("checkpoints are signed by a new key; save the verifier key to verify them", "verifier-key", vkey)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("-signer-key %s: %w", cfg.signerKey, err)
	}
	return signer, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	store, err := boltstore.Open(cfg.db, &boltstore.Options{Retention: cfg.retention, Logger: logger})
	if err != nil {
		return err
	}
	defer func() {
		if err := store.Close(); err != nil {
			logger.Error("closing the store", "err", err)
		}
	}()

	srv := newServer(store, cfg.keys, logger)
	if cfg.forward != "" {
		stopForwarding, err := startForwarding(cfg, store, logger)
		if err != nil {
			return err
		}
		defer stopForwarding() // before the store closes
	}
	if cfg.seed > 0 {
		n, err := seed(ctx, store, cfg.keys, cfg.seed, time.Now())
		if err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		if n > 0 {
			logger.Info("seeded demo events", "events", n)
		}
	}
	signer, err := checkpointSigner(cfg, logger)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	var viewerPath string
	// Live tails never go idle: they end when the server shuts down.
	tailsDone := make(chan struct{})
	// The spec's arrays under /v1 (or the envelope with -envelope), and
	// with -envelope-prefix the envelope under a second prefix too.
	shapes := []struct {
		prefix   string
		envelope bool
	}{{"/v1", cfg.envelope}}
	if cfg.envelopePrefix != "" {
		shapes = append(shapes, struct {
			prefix   string
			envelope bool
		}{strings.TrimRight(cfg.envelopePrefix, "/") + "/v1", true})
	}
	for _, shape := range shapes {
		var log *httpapi.LogOptions // the verifiable log's endpoints, under /v1 only
		if shape.prefix == "/v1" {
			log = &httpapi.LogOptions{Name: cfg.logName, Signer: signer}
		}
		opts := &httpapi.Options{
			Prefix:       shape.prefix,
			Authorize:    srv.authorizeRead,
			Envelope:     shape.envelope,
			Logger:       logger,
			WriteTimeout: writeTimeout,
			Log:          log,
		}
		if cfg.auditReads {
			opts.OnRead = srv.recordRead
		}
		if shape.prefix == "/v1" {
			opts.Tail = &httpapi.TailOptions{Done: tailsDone}
		}
		api, err := httpapi.New(store, opts)
		if err != nil {
			return err
		}
		api.Register(mux)
		if shape.prefix == "/v1" {
			if viewerPath, err = mountViewer(mux, api); err != nil {
				return err
			}
		}
	}
	srv.routes(mux)

	actor, err := httpapi.ActorMiddleware(&httpapi.ActorOptions{TrustedProxies: cfg.trustedProxies, EchoRequestID: true})
	if err != nil {
		return fmt.Errorf("-trusted-proxies: %w", err)
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           actor(logRequests(logger, mux)),
		ReadHeaderTimeout: min(10*time.Second, cfg.idleTimeout),
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(func() { close(tailsDone) })
	printViewer(stdout, "http://"+ln.Addr().String()+viewerPath, cfg)
	printUsage(stdout, "http://"+ln.Addr().String(), cfg, time.Now(), lastSeq(ctx, store, cfg))

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Stop accepting, end the live tails, let requests in flight (a long
	// download, say) finish, then stop forwarding and close the store
	// (deferred above).
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

// demoRequestID is the request ID of the printed command that changes a
// configuration, and of the one that finds the change.
const demoRequestID = "demo-change-1"

// writeTimeout bounds the writing of a response of the host's own, and of
// each write of the audit API's responses.
const writeTimeout = 30 * time.Second

// printUsage prints the URL and curl commands that work as printed, and
// which URL to give to which kind of client.
func printUsage(w io.Writer, base string, cfg config, now time.Time, last int64) {
	key, account := "", ""
	for k, a := range cfg.keys {
		if key == "" || k < key { // the same key every run
			key, account = k, a
		}
	}
	h := "-H 'X-Bindplane-Api-Key: " + key + "'"
	from := now.UTC().AddDate(0, 0, -7).Format("20060102") + "000000"
	to := now.UTC().Format("20060102") + "235959"
	shape := "the specification's JSON arrays"
	if cfg.envelope {
		shape = `{"auditEvents": [...]}, as Bindplane's collector reads them`
	}
	fmt.Fprintf(w, `auditevents example server on %s (store %s, account %q)

List the audit events, newest first, as %s:
  curl -s %s '%s/v1/audit-events'
Filter by user and dates (YYYYMMDDHHMMSS, UTC):
  curl -s %s '%s/v1/audit-events?user=alice%%40example.com&min-date=%s&max-date=%s'
Filter by configuration, every version or one:
  curl -s %s '%s/v1/audit-events?configuration-name=frontend'
Download them as CSV (saved as the file the server names), or as JSON Lines:
  curl -s -OJ %s '%s/v1/audit-events/download'
  curl -s %s '%s/v1/audit-events/download?format=jsonl'
Follow new events live, as Server-Sent Events (Ctrl-C to stop; ?from=0 replays the log first):
  curl -sN %s '%s/v1/audit-events/tail'
Resume after the id of the last event received (here the newest so far):
  curl -sN %s -H 'Last-Event-ID: %d' '%s/v1/audit-events/tail'
Record an event: create or modify a configuration, then delete it; each event keeps the client's
address, user agent and request ID (X-Request-ID when sent, a new one otherwise; echoed in the response):
  curl -s -X PUT %s -H 'X-Request-ID: %s' '%s/v1/configurations/my-config'
  curl -s -X DELETE %s '%s/v1/configurations/my-config'
Find the change by its request ID, or the changes from an address or network:
  curl -s %s '%s/v1/audit-events?request-id=%s'
  curl -s %s '%s/v1/audit-events?ip-address=127.0.0.0/8'
`, base, cfg.db, account, shape, h, base, h, base, from, to, h, base, h, base, h, base, h, base, h, last, base, h, demoRequestID, base, h, base, h, base, demoRequestID, h, base)
	fmt.Fprintf(w, `The signed checkpoint of the account's verifiable log (check it with go run ./cmd/auditevents verify):
  curl -s %s '%s/v1/audit-events/log/checkpoint'
`, h, base)
	if !cfg.envelope {
		fmt.Fprintf(w, "A client generated from the API's specification reads the arrays: give it the server URL\n  %s/v1\n", base)
	}
	switch {
	case cfg.envelopePrefix != "":
		p := strings.TrimRight(cfg.envelopePrefix, "/")
		fmt.Fprintf(w, `Bindplane's collector receiver reads {"auditEvents": [...]}, served under %[1]s/v1:
  curl -s %[2]s '%[3]s%[1]s/v1/audit-events'
  give the receiver the endpoint %[3]s%[1]s and the API key %[4]s
`, p, h, base, key)
	case cfg.envelope:
		fmt.Fprintf(w, "Bindplane's collector receiver reads these: give it the endpoint %s and the API key %s\n", base, key)
	default:
		fmt.Fprintln(w, "Bindplane's collector receiver needs {\"auditEvents\": [...]}: restart with -envelope-prefix /collector")
	}
	if cfg.forward != "" {
		u, _ := url.Parse(cfg.forward) // checked by parseFlags
		fmt.Fprintf(w, "Every account's events are forwarded to %s (%s)\n", u.Redacted(), cfg.forwardFormat)
	}
	fmt.Fprintf(w, `A bad key gets 401:
  curl -s -H 'X-Bindplane-Api-Key: wrong' '%s/v1/audit-events'

`, base)
}
