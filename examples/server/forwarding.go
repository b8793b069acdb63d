package main

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/url"
	"slices"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
	"github.com/auditevents/auditevents/forward"
)

// newWebhook returns the sink that -forward, -forward-secret and
// -forward-format describe.
func newWebhook(cfg config) (*forward.Webhook, error) {
	opts := &forward.WebhookOptions{Secret: []byte(cfg.forwardSecret)}
	if cfg.forwardFormat == "cloudevents" {
		opts.Encoder = encode.CloudEvents{}
	}
	return forward.NewWebhook(cfg.forward, opts)
}

// startForwarding starts a forwarder of every account's events to the
// webhook of -forward, beside the store; boltstore wakes it at each commit
// (auditevents.Notifier), so the webhook gets each event at once. The
// function it returns stops the forwarder and waits for it, so that the
// store is closed only afterwards.
func startForwarding(cfg config, store auditevents.Store, logger *slog.Logger) (stop func(), err error) {
	hook, err := newWebhook(cfg)
	if err != nil {
		return nil, err
	}
	// boltstore keeps the forwarder's positions in its file.
	fstore, ok := store.(forward.Store)
	if !ok {
		return nil, errors.New("-forward: the store keeps no positions (auditevents.Ledger and auditevents.Positions)")
	}
	if cfg.forwardSecret == "" {
		logger.Warn("forwarding without a signature: set -forward-secret or " + secretEnv + " so that the receiver can check the events are ours")
	}
	f, err := forward.New(fstore, []forward.Route{{Name: cfg.forwardName, Sink: hook}}, &forward.Options{
		OnError: func(route string, err error) {
			logger.Warn("forwarding to the webhook failed", "route", route, "err", err)
		},
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := f.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			logger.Error("forwarding to the webhook stopped; restart the server to resume", "err", err)
		}
	}()
	u, _ := url.Parse(cfg.forward)
	logger.Info("forwarding every account's events", "webhook", u.Redacted(), "format", cfg.forwardFormat)
	return func() {
		cancel()
		<-done
	}, nil
}

// lastSeq returns the sequence of the newest event of the account of the
// key printUsage names, for its resume command: -1 when the account has
// none, or when the store cannot say.
func lastSeq(ctx context.Context, store auditevents.Store, cfg config) int64 {
	l, ok := store.(auditevents.Ledger)
	if !ok {
		return -1
	}
	account := cfg.keys[slices.Min(slices.Collect(maps.Keys(cfg.keys)))]
	size, err := l.TreeSize(ctx, account)
	if err != nil {
		return -1
	}
	return size - 1
}
