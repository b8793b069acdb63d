package memstore_test

import (
	"testing"

	"github.com/auditevents/auditevents/store/memstore"
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

// TestAppended checks the Notifier contract a live tail relies on: a
// channel taken before a commit of its account is closed by it, by no other
// account's commit, and a channel taken after the commit waits for the
// next one; Close releases every waiter.
func TestAppended(t *testing.T) {
	s := memstore.New()
	acme, other := s.Appended("acme"), s.Appended("")
	if closed(acme) || closed(other) {
		t.Fatal("a channel is closed before any commit")
	}
	appendN(t, s, "acme", 1)
	if !closed(acme) {
		t.Error("the acme channel is open after a commit of acme")
	}
	if closed(other) {
		t.Error("the channel of the empty account was closed by a commit of acme")
	}
	next := s.Appended("acme")
	if closed(next) {
		t.Error("a channel taken after the commit is already closed")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !closed(next) || !closed(other) {
		t.Error("Close left a waiter's channel open")
	}
	if !closed(s.Appended("acme")) {
		t.Error("Appended on a closed store returned an open channel")
	}
}
