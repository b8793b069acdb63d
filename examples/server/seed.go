package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// seed fills an empty store with n demo events spread over the 30 days
// before now: the accounts of keys, a handful of users, configurations with
// versions, and the kinds and actions a Bindplane-like host records. It
// returns how many it appended: none when the store already holds events.
//
// It is not storetest's Generator, which the module's tests and benchmarks
// take their data from, on purpose: these events are a demo that a person
// browses in the viewer, and they read as one coherent history, which
// TestSeedIsACoherentHistory checks (per account and configuration,
// Created first and again after each Deleted, each Modified one version
// up, every rollout and component naming a version that exists), over the
// accounts of the server's keys and the 30 days before now. The Generator
// makes test data over fixed accounts and a fixed year, and its histories
// are not coherent in that sense (a rollout may name a version of a
// deleted configuration, a configuration created again starts over at
// version 1); and a program would import package testing with it.
func seed(ctx context.Context, store auditevents.Store, keys map[string]string, n int, now time.Time) (int, error) {
	for _, err := range store.Query(ctx, auditevents.Query{Limit: 1}) {
		return 0, err // not empty (err is nil), or failing
	}
	accounts := make([]string, 0, len(keys))
	for _, a := range keys {
		if !slices.Contains(accounts, a) {
			accounts = append(accounts, a)
		}
	}
	slices.Sort(accounts)
	users := []string{"alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com"}
	names := []string{"frontend", "backend", "edge-gateway", "payments", "k8s-cluster"}
	// Half the events are about configurations themselves.
	kinds := []auditevents.Kind{
		auditevents.KindConfiguration, auditevents.KindConfiguration, auditevents.KindConfiguration,
		auditevents.KindRollout, auditevents.KindDestination, auditevents.KindSource,
		auditevents.KindUser, auditevents.KindAPIKey,
	}
	rolloutActions := []auditevents.Action{auditevents.ActionPending, auditevents.ActionStarted, auditevents.ActionPaused, auditevents.ActionResumed}
	userActions := []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted}
	keyActions := []auditevents.Action{auditevents.ActionCreated, auditevents.ActionDeleted}
	rng := rand.New(rand.NewPCG(20250101, 42)) // the same demo every run
	rec := auditevents.NewRecorder(store, nil)
	start := now.Add(-30 * 24 * time.Hour)
	span := int64(30 * 24 * time.Hour / time.Microsecond)
	// Timestamps in order, so that each configuration's history reads
	// Created, Modified..., Deleted, with versions growing with time.
	offsets := make([]int64, n)
	for i := range offsets {
		offsets[i] = rng.Int64N(span)
	}
	slices.Sort(offsets)
	type state struct {
		version int
		exists  bool
	}
	configs := make(map[string]*state)
	events := make([]auditevents.AuditEvent, 0, min(n, 1000))
	appended := 0
	for i := range n {
		account := accounts[rng.IntN(len(accounts))]
		name := names[rng.IntN(len(names))]
		cfg := configs[account+"/"+name]
		if cfg == nil {
			cfg = &state{}
			configs[account+"/"+name] = cfg
		}
		e := auditevents.AuditEvent{
			Timestamp: start.Add(time.Duration(offsets[i]) * time.Microsecond),
			Account:   account,
			User:      users[rng.IntN(len(users))],
		}
		switch kind := kinds[rng.IntN(len(kinds))]; {
		case kind == auditevents.KindConfiguration || !cfg.exists:
			// A configuration changes; one that does not exist is created.
			e.ResourceKind, e.ResourceName = auditevents.KindConfiguration, name
			switch {
			case !cfg.exists:
				cfg.version++
				cfg.exists = true
				e.Action = auditevents.ActionCreated
			case rng.IntN(8) == 0:
				cfg.exists = false
				e.Action = auditevents.ActionDeleted
			default:
				cfg.version++
				e.Action = auditevents.ActionModified
			}
			e.Description = fmt.Sprintf("Configuration %s %s (version %d)", name, strings.ToLower(string(e.Action)), cfg.version)
		case kind == auditevents.KindRollout:
			e.ResourceKind, e.ResourceName = kind, name
			e.Action = rolloutActions[rng.IntN(len(rolloutActions))]
			e.Description = fmt.Sprintf("Rollout of %s version %d %s", name, cfg.version, strings.ToLower(string(e.Action)))
		case kind == auditevents.KindUser:
			e.ResourceKind, e.ResourceName = kind, users[rng.IntN(len(users))]
			e.Action = userActions[rng.IntN(len(userActions))]
			e.Description = fmt.Sprintf("User %s %s", e.ResourceName, strings.ToLower(string(e.Action)))
		case kind == auditevents.KindAPIKey:
			e.ResourceKind, e.ResourceName = kind, fmt.Sprintf("key-%04d", rng.IntN(10000))
			e.Action = keyActions[rng.IntN(len(keyActions))]
		default: // a component of a configuration
			e.ResourceKind, e.ResourceName = kind, fmt.Sprintf("%s-%d", strings.ToLower(string(kind)), rng.IntN(5))
			e.Action = auditevents.ActionModified
		}
		if e.ResourceKind != auditevents.KindUser && e.ResourceKind != auditevents.KindAPIKey {
			e.Configuration = fmt.Sprintf("%s:%d", name, cfg.version)
		}
		if err := rec.Stamp(&e); err != nil {
			return appended, err
		}
		events = append(events, e)
		if len(events) == cap(events) || i == n-1 {
			if err := store.Append(ctx, events...); err != nil {
				return appended, err
			}
			appended += len(events)
			events = events[:0]
		}
	}
	return appended, nil
}
