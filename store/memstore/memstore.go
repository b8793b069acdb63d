// Package memstore keeps audit events in memory. It is the [auditevents.Store]
// for unit tests and for hosts that do not need events to outlive the
// process.
//
// Events are held in slices sorted by timestamp, one for all events and one
// per user, per configuration name and per account, so a query costs
// O(log n + k) for the k events it reads: a date range, a user, a
// configuration (in every version, or in one) and an account scope all go
// straight to their events.
//
// A Store is also an [auditevents.Ledger]: each account's events are kept in
// their append order too, with the account's Merkle tree, whose hashes
// (about 64 bytes per event) stay when events are pruned.
package memstore

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/auditevents/auditevents"
	"golang.org/x/mod/sumdb/tlog"
)

var (
	_ auditevents.Store    = (*Store)(nil)
	_ auditevents.Ledger   = (*Store)(nil)
	_ auditevents.Notifier = (*Store)(nil)
)

// Store is an in-memory [auditevents.Store]. The zero value is not usable:
// call [New]. A Store is safe for concurrent use.
type Store struct {
	mu     sync.RWMutex
	closed bool
	all    []*auditevents.AuditEvent // ascending by (timestamp, ID)
	byID   map[string]ref
	index  [3]map[string][]*auditevents.AuditEvent // by indexKind, ascending like all
	logs   map[string]*accountLog                  // by account
	// positions holds consumers' positions; nil until the first is set.
	positions map[positionKey]int64

	// notifyMu guards waiters: the channels [Store.Appended] handed out,
	// by account, each closed and removed at the account's next commit.
	// waiters is nil once the store is closed. notifyMu is taken inside
	// mu, never the other way round.
	notifyMu sync.Mutex
	waiters  map[string]chan struct{}
}

// ref locates a stored event in its account's log.
type ref struct {
	log *accountLog
	seq int64
}

// accountLog is one account's log: its events in sequence order and its
// tree's stored hashes.
type accountLog struct {
	events []*auditevents.AuditEvent // by sequence; nil once pruned
	hashes []tlog.Hash               // by stored hash index
}

// indexKind names the secondary indexes of a Store.
type indexKind int

const (
	byUser indexKind = iota
	byConfiguration
	byAccount
	byNone indexKind = -1 // the slice of all events
)

// indexKey returns the key of e in index k.
func indexKey(k indexKind, e *auditevents.AuditEvent) string {
	switch k {
	case byUser:
		return e.User
	case byConfiguration:
		name, _ := auditevents.SplitConfiguration(e.Configuration)
		return name
	default:
		return e.Account
	}
}

// New returns an empty Store.
func New() *Store {
	s := &Store{byID: make(map[string]ref), logs: make(map[string]*accountLog), waiters: make(map[string]chan struct{})}
	for i := range s.index {
		s.index[i] = make(map[string][]*auditevents.AuditEvent)
	}
	return s
}

// compare orders events ascending by timestamp, then ID: the reverse of
// result order.
func compare(a, b *auditevents.AuditEvent) int {
	if c := a.Timestamp.Compare(b.Timestamp); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Append stores events, all or nothing, as [auditevents.Store] describes.
func (s *Store) Append(ctx context.Context, events ...auditevents.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(events) == 0 {
		return s.checkOpen()
	}
	prepared, err := auditevents.PrepareBatch(events)
	if err != nil {
		return err
	}
	add := make([]*auditevents.AuditEvent, len(prepared))
	for i := range prepared {
		add[i] = &prepared[i]
	}
	slices.SortFunc(add, compare)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return auditevents.ErrClosed
	}
	for _, e := range add {
		if _, dup := s.byID[e.ID]; dup {
			return &auditevents.DuplicateIDError{ID: e.ID}
		}
	}
	accounts, err := s.appendLogs(prepared)
	if err != nil {
		return err
	}
	defer s.notify(accounts) // under mu, after the indexes below
	s.all = insertSorted(s.all, add)
	for k := range s.index {
		if len(add) == 1 {
			key := indexKey(indexKind(k), add[0])
			s.index[k][key] = insertSorted(s.index[k][key], add)
			continue
		}
		groups := make(map[string][]*auditevents.AuditEvent)
		for _, e := range add { // add is sorted, so each group is too
			key := indexKey(indexKind(k), e)
			groups[key] = append(groups[key], e)
		}
		for key, group := range groups {
			s.index[k][key] = insertSorted(s.index[k][key], group)
		}
	}
	return nil
}

// appendLogs gives the batch's events their sequences, in batch order, and
// appends them and their hashes to their accounts' logs; it returns the
// accounts that grew. It fails, changing nothing, only if the tree cannot be
// extended, which would be a bug.
func (s *Store) appendLogs(batch []auditevents.AuditEvent) ([]string, error) {
	type grown struct {
		log    *accountLog
		events []*auditevents.AuditEvent
		leaves []tlog.Hash
	}
	var groups []*grown
	byAccount := make(map[string]*grown, 1)
	for i := range batch {
		e := &batch[i]
		g := byAccount[e.Account]
		if g == nil {
			log := s.logs[e.Account]
			if log == nil {
				log = &accountLog{}
			}
			g = &grown{log: log}
			byAccount[e.Account] = g
			groups = append(groups, g)
		}
		g.leaves = append(g.leaves, auditevents.LeafHash(int64(len(g.log.events)+len(g.events)), e))
		g.events = append(g.events, e)
	}
	hashes := make([][]tlog.Hash, len(groups))
	for i, g := range groups {
		log := g.log
		var err error
		hashes[i], err = auditevents.TreeAppend(int64(len(log.events)), g.leaves, log)
		if err != nil {
			return nil, err
		}
	}
	accounts := make([]string, len(groups))
	for i, g := range groups {
		log := g.log
		for _, e := range g.events {
			s.byID[e.ID] = ref{log, int64(len(log.events))}
			log.events = append(log.events, e)
		}
		log.hashes = append(log.hashes, hashes[i]...)
		s.logs[g.events[0].Account] = log
		accounts[i] = g.events[0].Account
	}
	return accounts, nil
}

// ReadHashes reads stored hashes for [auditevents.TreeAppend], within the
// store's lock.
func (l *accountLog) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if x < 0 || x >= int64(len(l.hashes)) {
			return nil, fmt.Errorf("memstore: stored hash index %d beyond the %d hashes of the tree", x, len(l.hashes))
		}
		out[i] = l.hashes[x]
	}
	return out, nil
}

// insertSorted merges the sorted add into the sorted list. Appends in time
// order, the usual case, cost O(len(add)); an older event costs a move of
// only the events newer than it.
func insertSorted(list, add []*auditevents.AuditEvent) []*auditevents.AuditEvent {
	if len(list) == 0 || compare(list[len(list)-1], add[0]) < 0 {
		return append(list, add...)
	}
	n := len(list)
	list = slices.Grow(list, len(add))[:n+len(add)]
	i, j := n-1, len(add)-1
	for k := len(list) - 1; j >= 0; k-- {
		if i >= 0 && compare(add[j], list[i]) < 0 {
			list[k] = list[i]
			i--
		} else {
			list[k] = add[j]
			j--
		}
	}
	return list
}

// chunk bounds how many events a query collects, and how many it looks at,
// while it holds the read lock. Between chunks it holds no lock, so the loop
// body may append, and writers are never blocked for long.
const (
	chunkEvents  = 256
	chunkScanned = 4096
)

// Query streams the events that match q, newest first, as
// [auditevents.Store] describes. Events appended while a query runs are seen
// by it if they fall after its current position.
func (s *Store) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return auditevents.QueryChunks(ctx, q, chunkEvents, func(q *auditevents.Query) (auditevents.ChunkFunc, func()) {
		var (
			resume  *auditevents.AuditEvent // the last event looked at; nil before the first chunk
			kind    = byNone
			key     string
			started bool
		)
		return func(buf []auditevents.AuditEvent, want int) ([]auditevents.AuditEvent, bool, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			if s.closed {
				return buf, true, auditevents.ErrClosed
			}
			if !started {
				kind, key = s.plan(q)
				started = true
			}
			var done bool
			buf, resume, done = scan(s.list(kind, key), q, resume, buf, want)
			return buf, done, nil
		}, nil
	})
}

// plan picks the slice that holds the fewest candidates for q in its time
// range: all events, or the index of q's user, configuration or account.
func (s *Store) plan(q *auditevents.Query) (indexKind, string) {
	bestKind, bestKey := byNone, ""
	lo, hi := bounds(s.all, q)
	best := hi - lo
	try := func(k indexKind, key string) {
		lo, hi := bounds(s.index[k][key], q)
		if hi-lo < best {
			bestKind, bestKey, best = k, key, hi-lo
		}
	}
	if q.User != "" {
		try(byUser, q.User)
	}
	if q.Configuration != "" {
		name, _ := auditevents.SplitConfiguration(q.Configuration)
		try(byConfiguration, name)
	}
	if q.Account != nil {
		try(byAccount, *q.Account)
	}
	return bestKind, bestKey
}

func (s *Store) list(k indexKind, key string) []*auditevents.AuditEvent {
	if k == byNone {
		return s.all
	}
	return s.index[k][key]
}

// bounds returns the half-open range of list within q's time range and
// cursor.
func bounds(list []*auditevents.AuditEvent, q *auditevents.Query) (lo, hi int) {
	hi = len(list)
	if !q.Before.IsZero() {
		hi = searchTime(list, q.Before)
	}
	if !q.After.IsZero() {
		cur := &auditevents.AuditEvent{Timestamp: q.After.Timestamp, ID: q.After.ID}
		i, _ := slices.BinarySearchFunc(list, cur, compare)
		hi = min(hi, i)
	}
	if !q.Since.IsZero() {
		lo = searchTime(list[:hi], q.Since)
	}
	return lo, hi
}

// searchTime returns the index of the first event of list at or after t.
func searchTime(list []*auditevents.AuditEvent, t time.Time) int {
	i, _ := slices.BinarySearchFunc(list, t, func(e *auditevents.AuditEvent, t time.Time) int {
		return e.Timestamp.Compare(t)
	})
	return i
}

// scan appends to buf, newest first, up to want events of list that match q
// and lie before resume (or anywhere in q's range when resume is nil). It
// returns the last event it looked at, to resume from, and whether the range
// is exhausted.
func scan(list []*auditevents.AuditEvent, q *auditevents.Query, resume *auditevents.AuditEvent, buf []auditevents.AuditEvent, want int) ([]auditevents.AuditEvent, *auditevents.AuditEvent, bool) {
	lo, hi := bounds(list, q)
	if resume != nil {
		i, _ := slices.BinarySearchFunc(list[:hi], resume, compare)
		hi = i
	}
	for i, scanned := hi-1, 0; i >= lo; i, scanned = i-1, scanned+1 {
		if scanned == chunkScanned {
			return buf, list[i+1], false // resume after the last event looked at
		}
		e := list[i]
		if q.Matches(e) {
			buf = append(buf, copyEvent(e))
			if len(buf) == want {
				return buf, e, i == lo
			}
		}
	}
	return buf, nil, true
}

// copyEvent returns a copy of the stored event e with its own metadata map,
// so that a reader changing what it was given cannot change the store.
func copyEvent(e *auditevents.AuditEvent) auditevents.AuditEvent {
	out := *e
	out.Metadata = maps.Clone(e.Metadata)
	return out
}

// Prune deletes the events older than before and returns how many it
// deleted.
func (s *Store) Prune(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, auditevents.ErrClosed
	}
	n := searchTime(s.all, before)
	if n == 0 {
		return 0, nil
	}
	// The pruned events are the oldest, so in every index they are a prefix.
	for k := range s.index {
		counts := make(map[string]int)
		for _, e := range s.all[:n] {
			counts[indexKey(indexKind(k), e)]++
		}
		for key, c := range counts {
			if rest := dropFront(s.index[k][key], c); len(rest) > 0 {
				s.index[k][key] = rest
			} else {
				delete(s.index[k], key)
			}
		}
	}
	for _, e := range s.all[:n] {
		r := s.byID[e.ID]
		r.log.events[r.seq] = nil // the hashes stay
		delete(s.byID, e.ID)
	}
	s.all = dropFront(s.all, n)
	return n, nil
}

// dropFront removes the first n elements of list in place, clearing the
// vacated tail so the dropped events can be collected.
func dropFront(list []*auditevents.AuditEvent, n int) []*auditevents.AuditEvent {
	m := copy(list, list[n:])
	clear(list[m:])
	return list[:m]
}

// Close drops every event. Later calls of the other methods return
// [auditevents.ErrClosed]; later calls of Close return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.all, s.byID, s.logs, s.positions = nil, nil, nil, nil
	s.notifyMu.Lock()
	for _, ch := range s.waiters {
		close(ch)
	}
	s.waiters = nil
	s.notifyMu.Unlock()
	for i := range s.index {
		s.index[i] = nil
	}
	return nil
}

func (s *Store) checkOpen() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return auditevents.ErrClosed
	}
	return nil
}

// Len returns how many events the store holds.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.all)
}
