package boltstore

import (
	"sync"

	"github.com/auditevents/auditevents"
)

var _ auditevents.Notifier = (*Store)(nil)

// Appended returns a channel that is closed once events of the account are
// committed after the call, or once the store is closed, as
// [auditevents.Notifier] describes: a live tail (package httpapi) waits on
// it instead of polling. The channel is closed when the commit's
// transaction is on disk, before the Appends it holds return. A read-only
// store commits nothing: its channels close only with the store. It never
// blocks and is safe for concurrent use.
//
// The store keeps one channel per account that was asked for and has had
// no commit since; a commit of the account, or Close, closes and forgets
// it.
func (s *Store) Appended(account string) <-chan struct{} {
	return s.waiters.channel(account)
}

// waiters holds the channels [Store.Appended] handed out, one per account,
// until the account's next commit or the store's Close. The zero value is
// ready to use.
type waiters struct {
	mu     sync.Mutex
	chans  map[string]chan struct{} // nil until the first Appended
	closed bool
}

// closedChan is what Appended returns once the store is closed.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// channel returns the account's channel, making it if needed.
func (w *waiters) channel(account string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return closedChan
	}
	ch := w.chans[account]
	if ch == nil {
		if w.chans == nil {
			w.chans = make(map[string]chan struct{})
		}
		ch = make(chan struct{})
		w.chans[account] = ch
	}
	return ch
}

// committed closes the channels of the accounts of the requests that a
// commit stored: those of taken whose outcome is nil, when the transaction
// (whose error is err) committed. The writer calls it once the transaction
// is on disk.
func (w *waiters) committed(taken []*appendRequest, outcome []error, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || len(w.chans) == 0 {
		return
	}
	for i, r := range taken {
		if outcome[i] != nil {
			continue
		}
		for j := range r.events {
			a := r.events[j].Account
			if j > 0 && a == r.events[j-1].Account {
				continue
			}
			if ch := w.chans[a]; ch != nil {
				close(ch)
				delete(w.chans, a)
			}
		}
	}
}

// close closes every channel; later calls of channel return a closed one.
func (w *waiters) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.chans {
		close(ch)
	}
	w.chans, w.closed = nil, true
}
