package memstore

import (
	"context"
	"iter"
	"slices"
	"strings"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

// TreeSize returns the size of the account's tree, as [auditevents.Ledger]
// describes.
func (s *Store) TreeSize(ctx context.Context, account string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0, auditevents.ErrClosed
	}
	return s.sizeLocked(account), nil
}

func (s *Store) sizeLocked(account string) int64 {
	if log := s.logs[account]; log != nil {
		return int64(len(log.events))
	}
	return 0
}

// Entries streams the account's log in sequence order from sequence from,
// as [auditevents.Ledger] describes. It reads a chunk of entries at a time
// under the read lock, so appends interleave with a long read, and it goes
// on with the sequences committed meanwhile.
func (s *Store) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		buf := make([]auditevents.Entry, 0, chunkEvents)
		next := from
		for first := true; ; first = false {
			if err := ctx.Err(); err != nil {
				yield(auditevents.Entry{}, err)
				return
			}
			s.mu.RLock()
			if s.closed {
				s.mu.RUnlock()
				yield(auditevents.Entry{}, auditevents.ErrClosed)
				return
			}
			if first {
				if err := auditevents.CheckFrom(s.sizeLocked(account), from); err != nil {
					s.mu.RUnlock()
					yield(auditevents.Entry{}, err)
					return
				}
			}
			buf, next = s.entriesLocked(account, next, buf[:0])
			s.mu.RUnlock()
			if len(buf) == 0 {
				return
			}
			for _, e := range buf {
				if !yield(e, nil) {
					return
				}
			}
		}
	}
}

// entriesLocked appends to buf up to chunkEvents entries of the account's
// log from sequence next, a run of pruned sequences as one entry, and
// returns the sequence after the last.
func (s *Store) entriesLocked(account string, next int64, buf []auditevents.Entry) ([]auditevents.Entry, int64) {
	log := s.logs[account]
	if log == nil {
		return buf, next
	}
	for next < int64(len(log.events)) && len(buf) < chunkEvents {
		if e := log.events[next]; e != nil {
			buf = append(buf, auditevents.Entry{Seq: next, Event: copyEvent(e)})
			next++
			continue
		}
		run := next
		for run < int64(len(log.events)) && log.events[run] == nil {
			run++
		}
		buf = append(buf, auditevents.Entry{Seq: next, Pruned: run - next})
		next = run
	}
	return buf, next
}

// Lookup returns the entry of the event with the given ID, as
// [auditevents.Ledger] describes.
func (s *Store) Lookup(ctx context.Context, id string) (auditevents.Entry, error) {
	if err := ctx.Err(); err != nil {
		return auditevents.Entry{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return auditevents.Entry{}, auditevents.ErrClosed
	}
	r, ok := s.byID[strings.ToUpper(id)]
	if !ok {
		return auditevents.Entry{}, auditevents.ErrNotFound
	}
	return auditevents.Entry{Seq: r.seq, Event: copyEvent(r.log.events[r.seq])}, nil
}

// Accounts streams the accounts that have a non-empty tree, in ascending
// order, as [auditevents.Ledger] describes. It takes them all at once.
func (s *Store) Accounts(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := ctx.Err(); err != nil {
			yield("", err)
			return
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			yield("", auditevents.ErrClosed)
			return
		}
		accounts := make([]string, 0, len(s.logs))
		for a := range s.logs {
			accounts = append(accounts, a)
		}
		s.mu.RUnlock()
		slices.Sort(accounts)
		for _, a := range accounts {
			if !yield(a, nil) {
				return
			}
		}
	}
}

// ReadHashes returns the account's stored tree hashes at the given indexes,
// as [auditevents.Ledger] describes.
func (s *Store) ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, auditevents.ErrClosed
	}
	if err := auditevents.CheckIndexes(s.sizeLocked(account), indexes); err != nil {
		return nil, err
	}
	return s.logs[account].ReadHashes(indexes)
}

// Appended returns a channel that is closed at the account's next commit,
// or when the store is closed, as [auditevents.Notifier] describes.
func (s *Store) Appended(account string) <-chan struct{} {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	if s.waiters == nil { // closed
		return closedChan
	}
	ch := s.waiters[account]
	if ch == nil {
		ch = make(chan struct{})
		s.waiters[account] = ch
	}
	return ch
}

// closedChan is what Appended returns once the store is closed.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// notify closes the channels of the accounts that grew, once their events
// are visible to readers.
func (s *Store) notify(accounts []string) {
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	for _, a := range accounts {
		if ch := s.waiters[a]; ch != nil {
			close(ch)
			delete(s.waiters, a)
		}
	}
}
