package storetest

import (
	"context"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/auditevents/auditevents"
)

// naive is a store written as plainly as possible, for the suite's own
// tests: one slice in result order, a linear scan per chunk, and the
// model's filter. With no bug set it passes the suite; each bug is a
// mistake a real store could make, which the suite must catch.
type naive struct {
	bug bug

	mu     sync.RWMutex
	closed bool
	events []auditevents.AuditEvent // in result order
	ids    map[string]bool
}

// bug names one deliberate mistake of a naive store.
type bug string

const (
	noBug                    bug = ""
	bugScopeDroppedByCursor  bug = "ScopeDroppedByCursor"   // ignores the account scope when a cursor is given
	bugSkipAtChunkBoundary   bug = "SkipAtChunkBoundary"    // skips the event where a chunk resumes
	bugTiesAscending         bug = "TiesAscending"          // returns events of one timestamp in ascending ID order
	bugPartialBatch          bug = "PartialBatch"           // keeps the events of a batch before the one that fails
	bugMaxDateExclusive      bug = "MaxDateExclusive"       // drops events in the last microsecond before Before
	bugPruneOneTooMany       bug = "PruneOneTooMany"        // also deletes the events at the prune time
	bugWholeResultInMemory   bug = "WholeResultInMemory"    // collects the whole result before yielding it
	bugLimitPlusOne          bug = "LimitPlusOne"           // returns one event more than the limit
	bugConfigurationPrefix   bug = "ConfigurationPrefix"    // matches configurations by prefix
	bugCursorInclusive       bug = "CursorInclusive"        // repeats the cursor's own event on the next page
	bugIgnoresContext        bug = "IgnoresContext"         // never looks at the context
	bugStoppedPruneCountsNil bug = "StoppedPruneCountsNone" // a stopped Prune returns 0
	bugRemembersPrunedIDs    bug = "RemembersPrunedIDs"     // refuses the ID of a pruned event
	bugUsableAfterClose      bug = "UsableAfterClose"       // keeps working after Close
	bugDropsMetadata         bug = "DropsMetadata"          // stores events without their metadata
	bugIPPrefixIgnored       bug = "IPPrefixIgnored"        // matches the ip-address filter by its address only, ignoring its length
	bugSharesMetadata        bug = "SharesMetadata"         // keeps the caller's metadata map and hands it to readers
)

func newNaive(b bug) *naive { return &naive{bug: b, ids: map[string]bool{}} }

// naiveChunk is how many events a query of a naive store looks at while it
// holds the lock.
const naiveChunk = 100

// pruneStep is how many events a naive store's Prune deletes between two
// looks at the context.
const pruneStep = 1000

func (s *naive) Append(ctx context.Context, events ...auditevents.AuditEvent) error {
	if err := s.ctxErr(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.bug != bugUsableAfterClose {
		return auditevents.ErrClosed
	}
	batch := make([]auditevents.AuditEvent, 0, len(events))
	seen := map[string]bool{}
	for i, e := range events {
		if err := e.Validate(); err != nil {
			err.(*auditevents.EventError).Index = i
			if s.bug == bugPartialBatch {
				s.insert(batch)
			}
			return err
		}
		m := e.Metadata
		e = stored(e)
		switch s.bug {
		case bugDropsMetadata:
			e.Metadata = nil
		case bugSharesMetadata:
			e.Metadata = m
		}
		if s.ids[e.ID] || seen[e.ID] {
			if s.bug == bugPartialBatch {
				s.insert(batch)
			}
			return &auditevents.DuplicateIDError{ID: e.ID}
		}
		seen[e.ID] = true
		batch = append(batch, e)
	}
	s.insert(batch)
	return nil
}

func (s *naive) insert(batch []auditevents.AuditEvent) {
	for _, e := range batch {
		s.ids[e.ID] = true
	}
	s.events = append(s.events, batch...)
	sort.SliceStable(s.events, func(i, j int) bool { return s.before(s.events[i], s.events[j]) })
}

// before is the store's result order.
func (s *naive) before(a, b auditevents.AuditEvent) bool {
	if s.bug == bugTiesAscending && a.Timestamp.Equal(b.Timestamp) {
		return a.ID < b.ID
	}
	return newerFirst(a, b)
}

func (s *naive) ctxErr(ctx context.Context) error {
	if s.bug == bugIgnoresContext {
		return nil
	}
	return ctx.Err()
}

func (s *naive) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		if err := q.Validate(); err != nil {
			yield(auditevents.AuditEvent{}, err)
			return
		}
		if s.bug == bugScopeDroppedByCursor && !q.After.IsZero() {
			q.Account = nil
		}
		if s.bug == bugWholeResultInMemory {
			var all []auditevents.AuditEvent
			for e, err := range s.chunks(ctx, q) {
				if err != nil {
					yield(e, err)
					return
				}
				all = append(all, e)
			}
			for _, e := range all {
				if !yield(e, nil) {
					return
				}
			}
			return
		}
		s.chunks(ctx, q)(yield)
	}
}

// chunks runs q chunk by chunk: each chunk looks at naiveChunk events under
// the read lock, and resumes after the last event the chunk before looked at.
func (s *naive) chunks(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		sent := 0
		limit := q.Limit
		if s.bug == bugLimitPlusOne && limit > 0 {
			limit++
		}
		var resume *auditevents.AuditEvent // the last event looked at
		for {
			if err := s.ctxErr(ctx); err != nil {
				yield(auditevents.AuditEvent{}, err)
				return
			}
			s.mu.RLock()
			if s.closed && s.bug != bugUsableAfterClose {
				s.mu.RUnlock()
				yield(auditevents.AuditEvent{}, auditevents.ErrClosed)
				return
			}
			i := 0
			if resume != nil {
				r := *resume
				i = sort.Search(len(s.events), func(i int) bool { return s.before(r, s.events[i]) })
				if s.bug == bugSkipAtChunkBoundary {
					i++
				}
			}
			var chunk []auditevents.AuditEvent
			end := min(i+naiveChunk, len(s.events))
			for ; i < end; i++ {
				if s.matches(q, s.events[i]) {
					e := s.events[i]
					if s.bug != bugSharesMetadata {
						e.Metadata = maps.Clone(e.Metadata)
					}
					chunk = append(chunk, e)
				}
			}
			if i > 0 {
				last := s.events[i-1]
				resume = &last
			}
			done := i >= len(s.events)
			s.mu.RUnlock()
			for _, e := range chunk {
				if limit > 0 && sent == limit {
					return
				}
				if !yield(e, nil) {
					return
				}
				sent++
			}
			if done {
				return
			}
		}
	}
}

func (s *naive) matches(q auditevents.Query, e auditevents.AuditEvent) bool {
	switch {
	case s.bug == bugMaxDateExclusive && !q.Before.IsZero() && !e.Timestamp.Before(q.Before.Add(-time.Microsecond)):
		return false
	case s.bug == bugConfigurationPrefix && q.Configuration != "":
		c := q.Configuration
		q.Configuration = ""
		return strings.HasPrefix(e.Configuration, c) && selects(q, e)
	case s.bug == bugCursorInclusive && !q.After.IsZero() && e.ID == q.After.ID:
		q.After = auditevents.Cursor{}
	case s.bug == bugIPPrefixIgnored && q.IPAddress.IsValid():
		a := q.IPAddress.Addr().String()
		q.IPAddress = netip.Prefix{}
		return e.IPAddress == a && selects(q, e)
	}
	return selects(q, e)
}

func (s *naive) Prune(ctx context.Context, before time.Time) (int, error) {
	deleted := 0
	for {
		if err := s.ctxErr(ctx); err != nil {
			if s.bug == bugStoppedPruneCountsNil {
				return 0, err
			}
			return deleted, err
		}
		n, more, err := s.pruneStep(before)
		deleted += n
		if err != nil || !more {
			return deleted, err
		}
	}
}

// pruneStep deletes up to pruneStep of the oldest events before the given
// time, and reports whether any may be left.
func (s *naive) pruneStep(before time.Time) (int, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed && s.bug != bugUsableAfterClose {
		return 0, false, auditevents.ErrClosed
	}
	old := func(e auditevents.AuditEvent) bool {
		if s.bug == bugPruneOneTooMany {
			return !e.Timestamp.After(before)
		}
		return e.Timestamp.Before(before)
	}
	n := 0
	for i := len(s.events) - 1; i >= 0 && n < pruneStep && old(s.events[i]); i-- {
		if s.bug != bugRemembersPrunedIDs {
			delete(s.ids, s.events[i].ID)
		}
		n++
	}
	s.events = slices.Delete(s.events, len(s.events)-n, len(s.events))
	return n, n == pruneStep, nil
}

func (s *naive) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

var _ auditevents.Store = (*naive)(nil)
