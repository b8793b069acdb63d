package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/boltstore"
)

// closed reports whether ch is closed, without waiting.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// notifyEvent returns a valid event of the account with the n-th ID.
func notifyEvent(account string, n int) auditevents.AuditEvent {
	return auditevents.AuditEvent{
		ID:        fmt.Sprintf("01JGKRQ3M8V63QXKKD%08d", n),
		Timestamp: time.Date(2025, 1, 2, 15, 0, n, 0, time.UTC),
		Account:   account, User: "alice", Action: auditevents.ActionCreated,
		ResourceKind: auditevents.KindAgent, ResourceName: "a",
	}
}

// TestAppended checks the Notifier contract a live tail and a forwarder
// rely on: a channel taken before a commit of its account is closed by the
// time Append returns, by no other account's commit and by no failed
// Append; a channel taken after the commit waits for the next one; Close
// releases every waiter. The store keeps a channel only for an account
// that is waited on and has had no commit since, so that accounts nobody
// waits on cost nothing.
func TestAppended(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, nil)
	appendOK := func(events ...auditevents.AuditEvent) {
		t.Helper()
		if err := s.Append(ctx, events...); err != nil {
			t.Fatal(err)
		}
	}
	acme, other, empty := s.Appended("acme"), s.Appended("other"), s.Appended("")
	if s.Appended("acme") != acme {
		t.Error("two calls for one account returned different channels before a commit")
	}
	if closed(acme) || closed(other) || closed(empty) {
		t.Fatal("a channel is closed before any commit")
	}
	appendOK(notifyEvent("acme", 1))
	if !closed(acme) {
		t.Error("the acme channel is open after Append of acme returned")
	}
	if closed(other) || closed(empty) {
		t.Error("a commit of acme closed another account's channel")
	}
	if got, want := boltstore.Waiting(s), 2; got != want {
		t.Errorf("%d accounts waited on after the commit, want %d", got, want)
	}

	next := s.Appended("acme")
	if closed(next) {
		t.Error("a channel taken after the commit is already closed")
	}
	if err := s.Append(ctx, notifyEvent("acme", 1)); !errors.As(err, new(*auditevents.DuplicateIDError)) {
		t.Fatalf("appending a duplicate: %v, want a DuplicateIDError", err)
	}
	if closed(next) {
		t.Error("a failed Append closed the channel")
	}

	// One Append of two accounts wakes both; no channel is left over.
	appendOK(notifyEvent("other", 2), notifyEvent("acme", 3), notifyEvent("", 4))
	if !closed(next) || !closed(other) || !closed(empty) {
		t.Error("an Append of several accounts left one of their channels open")
	}
	if got := boltstore.Waiting(s); got != 0 {
		t.Errorf("%d accounts waited on after every one had a commit, want 0", got)
	}

	// Commits of accounts nobody waits on keep nothing.
	for i := range 100 {
		appendOK(notifyEvent(fmt.Sprintf("tenant-%d", i), 100+i))
	}
	if got := boltstore.Waiting(s); got != 0 {
		t.Errorf("%d accounts kept after commits nobody waited on, want 0", got)
	}

	last := s.Appended("acme")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(last) {
		t.Error("Close left a waiter's channel open")
	}
	if !closed(s.Appended("acme")) {
		t.Error("Appended on a closed store returned an open channel")
	}
	if got := boltstore.Waiting(s); got != 0 {
		t.Errorf("%d accounts kept after Close, want 0", got)
	}
}

// TestAppendedWakesAReader checks the pattern of a live tail: take the
// channel, read to the end, wait; an Append from another goroutine wakes
// the reader, which then reads the new event.
func TestAppendedWakesAReader(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, nil)
	if err := s.Append(ctx, notifyEvent("acme", 1)); err != nil {
		t.Fatal(err)
	}
	for seq := int64(1); seq <= 3; seq++ {
		ch := s.Appended("acme")
		size, err := s.TreeSize(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		if size != seq {
			t.Fatalf("tree size %d, want %d", size, seq)
		}
		errc := make(chan error, 1)
		go func() { errc <- s.Append(ctx, notifyEvent("acme", int(seq)+1)) }()
		select {
		case <-ch:
		case <-time.After(30 * time.Second): // a watchdog, not a wait for a result
			t.Fatal("the commit did not close the channel")
		}
		if size, err := s.TreeSize(ctx, "acme"); err != nil || size != seq+1 {
			t.Fatalf("after the wake: tree size %d (%v), want %d", size, err, seq+1)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// A read-only store commits nothing: its channels close only with it.
func TestAppendedReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	w, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(context.Background(), notifyEvent("acme", 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ch := r.Appended("acme")
	if closed(ch) {
		t.Error("a read-only store's channel is closed before Close")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(ch) {
		t.Error("Close left the channel open")
	}
}
