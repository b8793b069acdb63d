package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/auditevents/auditevents"
)

// seed fills an empty store with n demo events spread over the 30 days
// before now: the accounts of keys, a handful of users, configurations with
// versions, and the kinds and actions a Bindplane-like host records. It
// returns how many it appended: none when the store already holds events.
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
	configs := []string{"frontend", "backend", "edge-gateway", "payments", "k8s-cluster"}
	type change struct {
		kind    auditevents.Kind
		actions []auditevents.Action
	}
	changes := []change{
		{auditevents.KindConfiguration, []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionModified, auditevents.ActionModified, auditevents.ActionDeleted}},
		{auditevents.KindRollout, []auditevents.Action{auditevents.ActionPending, auditevents.ActionStarted, auditevents.ActionPaused, auditevents.ActionResumed}},
		{auditevents.KindDestination, []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified}},
		{auditevents.KindSource, []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified}},
		{auditevents.KindUser, []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionDeleted}},
		{auditevents.KindAPIKey, []auditevents.Action{auditevents.ActionCreated, auditevents.ActionDeleted}},
	}
	rng := rand.New(rand.NewPCG(20250101, 42)) // the same demo every run
	rec := auditevents.NewRecorder(store, nil)
	start := now.Add(-30 * 24 * time.Hour)
	span := int64(30 * 24 * time.Hour / time.Microsecond)
	// Timestamps in order, so that configuration versions grow with time.
	offsets := make([]int64, n)
	for i := range offsets {
		offsets[i] = rng.Int64N(span)
	}
	slices.Sort(offsets)
	events := make([]auditevents.AuditEvent, 0, min(n, 1000))
	versions := make(map[string]int)
	appended := 0
	for i := range n {
		c := changes[rng.IntN(len(changes))]
		if rng.IntN(2) == 0 {
			c = changes[0] // most events are about configurations
		}
		account := accounts[rng.IntN(len(accounts))]
		cfg := configs[rng.IntN(len(configs))]
		action := c.actions[rng.IntN(len(c.actions))]
		e := auditevents.AuditEvent{
			Timestamp:    start.Add(time.Duration(offsets[i]) * time.Microsecond),
			Account:      account,
			User:         users[rng.IntN(len(users))],
			Action:       action,
			ResourceKind: c.kind,
		}
		switch c.kind {
		case auditevents.KindConfiguration, auditevents.KindRollout:
			versions[account+"/"+cfg]++
			v := versions[account+"/"+cfg]
			e.ResourceName = cfg
			e.Configuration = fmt.Sprintf("%s:%d", cfg, v)
			e.Description = fmt.Sprintf("%s %s %s (version %d)", c.kind, cfg, action, v)
		case auditevents.KindUser:
			e.ResourceName = users[rng.IntN(len(users))]
			e.Description = fmt.Sprintf("User %s %s", e.ResourceName, action)
		case auditevents.KindAPIKey:
			e.ResourceName = fmt.Sprintf("key-%04d", rng.IntN(10000))
		default:
			e.ResourceName = fmt.Sprintf("%s-%d", c.kind, rng.IntN(5))
			e.Configuration = fmt.Sprintf("%s:%d", cfg, max(versions[account+"/"+cfg], 1))
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
