package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
)

// An appendRequest is one call of Append, queued for the writer.
type appendRequest struct {
	events []auditevents.AuditEvent // prepared: valid and normalized
	keys   [][keyLen]byte           // keys[i] is the key of events[i]
	state  atomic.Int32             // requestQueued, requestTaken or requestAbandoned
	done   chan error               // receives the outcome once taken
}

const (
	requestQueued int32 = iota
	requestTaken
	requestAbandoned
)

// maxCommitEvents bounds the events the writer gathers into one
// transaction; a request larger than that still commits whole, alone.
const maxCommitEvents = 16384

// Append stores events, all or nothing, as [auditevents.Store] describes.
//
// Appends from concurrent goroutines share transactions (group commit): a
// single writer gathers the waiting calls into one transaction, checks each
// call's IDs against the file and against the calls before it in the same
// transaction, commits once, syncs once (unless [Options.NoSync]), and then
// answers every call. A call whose batch holds a duplicate fails alone; the
// others commit. Append returns after its events are on disk.
//
// When ctx is cancelled while the call still waits its turn, Append returns
// the context's error and stores nothing. Once the writer has taken the
// call, Append waits for the commit and reports its outcome, so an error
// always means that nothing was stored.
func (s *Store) Append(ctx context.Context, events ...auditevents.AuditEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.readOnly {
		return ErrReadOnly
	}
	prepared, err := auditevents.PrepareBatch(events)
	if err != nil {
		return err
	}
	req := &appendRequest{events: prepared, keys: make([][keyLen]byte, len(prepared)), done: make(chan error, 1)}
	for i := range prepared {
		if req.keys[i], err = eventKey(&prepared[i]); err != nil {
			return err
		}
	}

	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return auditevents.ErrClosed
	}
	if len(prepared) == 0 {
		s.mu.RUnlock()
		return nil
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.mu.RUnlock()
		return ctx.Err()
	}
	s.mu.RUnlock()

	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(requestQueued, requestAbandoned) {
			return ctx.Err()
		}
		return <-req.done // already being committed: report how it ended
	}
}

// gatherWait bounds how long the writer waits for more requests before a
// commit, when the previous commit held several: the callers it just
// answered are then about to append again, and one commit for all of them
// costs far less than a commit for the first and another for the rest.
const gatherWait = 300 * time.Microsecond

// writer commits the queued requests, as many as are waiting at a time in
// one transaction, until Close closes the queue.
//
// When the queue runs dry, it waits (gatherWait at most) for every caller it
// knows to be appending: the callers of the previous commit, who are about
// to append again, and the callers whose requests queued while that commit
// was written. Waiting for the previous commit's callers alone would leave
// behind, each time, as many requests as queued during the commit before:
// 64 goroutines appending made commits of 56-60 requests, the rest waiting
// a commit more.
func (s *Store) writer() {
	defer close(s.writerDone)
	var (
		batch []*appendRequest
		w     = txWriter{hotCount: -1} // counts the hot entries at its first commit
		want  int                      // the callers known to be appending (above)
		timer = time.NewTimer(time.Hour)
	)
	timer.Stop()
	for req := range s.reqs {
		batch = append(batch[:0], req)
		n := len(req.events)
		var deadline <-chan time.Time // set once the writer waits
	gather:
		for n < maxCommitEvents {
			var (
				r  *appendRequest
				ok bool
			)
			select {
			case r, ok = <-s.reqs:
			default:
				// Nothing is waiting: wait, gatherWait at most, for the
				// callers known to be appending, unless they are all here.
				if len(batch) >= want {
					break gather
				}
				if deadline == nil {
					timer.Reset(gatherWait)
					deadline = timer.C
				}
				select {
				case r, ok = <-s.reqs:
				case <-deadline:
					break gather
				}
			}
			if !ok {
				break gather // Close closed the queue
			}
			batch = append(batch, r)
			n += len(r.events)
		}
		if deadline != nil && !timer.Stop() {
			select { // drain a fired timer so that Reset starts afresh
			case <-timer.C:
			default:
			}
		}
		want = s.commit(&w, batch)
	}
}

// commit writes the requests of batch that are still wanted and free of
// duplicates in one transaction, and answers each of them. It returns the
// number of callers known to be appending: those it answered, and those
// whose requests queued while it wrote.
func (s *Store) commit(w *txWriter, batch []*appendRequest) (appending int) {
	taken := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(requestQueued, requestTaken) {
			taken = append(taken, r)
		}
	}
	if len(taken) == 0 {
		return len(s.reqs)
	}
	outcome := make([]error, len(taken))
	valid, gen := s.hot.begin()
	var (
		txid  uint64
		built *[byRequestID]map[string]hotList
	)
	err := guard(func() error {
		return s.update(func(tx *bolt.Tx) error {
			txid, built = uint64(tx.ID()), nil
			if !valid {
				// A hot class that cannot be read leaves the copy invalid:
				// queries read the file, and report the damage.
				built, _ = buildHot(tx, txid)
			}
			if err := w.reset(tx, &s.codec, s.sealAfter, s.hotStale.Swap(false)); err != nil {
				return err
			}
			w.noLog = s.noLog
			for i, r := range taken {
				outcome[i] = w.add(r)
			}
			return w.flush()
		})
	})
	appending = len(taken) + len(s.reqs) // before the answers: none of those is back yet
	s.codec.dict.endTx(err == nil)
	if err != nil {
		s.hot.discard() // the transaction may have reached the file all the same
	}
	s.waiters.committed(taken, outcome, err) // wakes Appended's waiters before the Appends return (notify.go)
	if err != nil {
		w.hotCount = -1 // count again
	}
	for i, r := range taken {
		if err != nil {
			r.done <- fmt.Errorf("boltstore: appending: %w", err)
		} else {
			r.done <- outcome[i]
		}
	}
	// The copy of the hot class takes the transaction's entries only now,
	// while the callers just answered append again: until then, a query
	// reads those entries from the file (hot.go).
	s.hot.end(gen, txid, err == nil, built, w.sealed, w.hotAdded())
	return appending
}

// txWriter gathers the writes of one transaction so that it can put each
// bucket's keys in ascending order: consecutive puts then land on the same
// pages, which bbolt writes once per commit.
type txWriter struct {
	tx      *bolt.Tx
	codec   *codec
	ids     *bolt.Bucket
	seen    map[[16]byte]struct{}
	events  []entry
	idKeys  [][]byte
	index   [numIndexes][]entry // sealed index entries (imports), by index
	hot     []entry             // hot index entries, keyed as in the hot bucket
	scratch []byte
	log     []logEvent       // the events in commit order, for their accounts' logs (ledger.go)
	lw      logWriter        // writes them
	next    map[string]int64 // the next sequence of each account the transaction appends to
	taken   map[string]int64 // add's: the sequences a request takes, by account
	refs    []logRef         // add's: the requests' events' sequences and leaves
	ends    []int            // add's: where each event's value ends in scratch
	hasher  leafHasher       // computes the events' leaves
	noLog   bool             // Options.NoLog

	through   int64 // the sealed time
	hotCount  int   // events with hot index entries before this transaction; -1: unknown
	sealed    bool  // this transaction sealed every hot entry
	newHot    int   // the events of this transaction with hot index entries
	sealAfter int   // seal once hotCount exceeds it

	// seal's buffers
	tagBuf       []byte
	moved        []hotEntry
	order        []int32
	groups       map[string]int
	tags         [][]byte
	count, group []int
}

type entry struct {
	key, value []byte
}

// reset prepares w for transaction tx. recount makes it count the hot
// entries again, as after a prune.
func (w *txWriter) reset(tx *bolt.Tx, c *codec, sealAfter int, recount bool) error {
	w.tx, w.codec, w.sealAfter = tx, c, sealAfter
	w.ids = tx.Bucket(bucketIDs)
	var err error
	if w.through, err = sealedTime(tx); err != nil {
		return err
	}
	if recount || w.hotCount < 0 {
		// One hot entry per hot event.
		w.hotCount = 0
		cur := tx.Bucket(bucketHot).Cursor()
		for k, _ := cur.First(); k != nil; k, _ = cur.Next() {
			w.hotCount++
		}
	}
	w.newHot, w.sealed = 0, false
	if w.seen == nil {
		w.seen = make(map[[16]byte]struct{})
	}
	clear(w.seen)
	for k := range w.index {
		w.index[k] = w.index[k][:0]
	}
	w.hot = w.hot[:0]
	w.events, w.idKeys, w.scratch, w.log = w.events[:0], w.idKeys[:0], w.scratch[:0], w.log[:0]
	clear(w.next)
	w.lw.reset()
	return nil
}

// add stages the events of r, giving each its sequence and leaf, or returns
// the error that fails r alone: a duplicate ID, or a damaged tree size of
// one of its accounts. It writes nothing to the transaction yet.
func (w *txWriter) add(r *appendRequest) (err error) {
	for i := range r.keys {
		id := [16]byte(r.keys[i][8:])
		if _, dup := w.seen[id]; dup || w.ids.Get(id[:]) != nil {
			return &auditevents.DuplicateIDError{ID: r.events[i].ID}
		}
	}
	// The log's sequences and leaves come first: each event's value holds
	// its sequence and leaf check. Only a request that is staged whole
	// moves its accounts' next sequences.
	refs := slices.Grow(w.refs[:0], len(r.events))[:len(r.events)]
	w.refs = refs
	if !w.noLog {
		if w.next == nil {
			w.next, w.taken = make(map[string]int64), make(map[string]int64)
		}
		taken := w.taken // sequences this request takes, by account
		clear(taken)
		for i := range r.events {
			e := &r.events[i]
			seq, ok := w.next[e.Account]
			if !ok {
				var err error
				if seq, err = treeSize(w.tx.Bucket(bucketLog), e.Account); err != nil {
					return err
				}
				w.next[e.Account] = seq
			}
			seq += taken[e.Account]
			taken[e.Account]++
			refs[i].seq = seq
			refs[i].leaf, refs[i].check = w.hasher.leaf(seq, e)
		}
		defer func() {
			if err == nil {
				for a, n := range taken {
					w.next[a] += n
				}
			}
		}()
	}
	start := len(w.scratch)
	ends := slices.Grow(w.ends[:0], len(r.events))[:len(r.events)]
	w.ends = ends
	for i := range r.events {
		var lr *logRef
		if !w.noLog {
			lr = &refs[i]
		}
		if w.scratch, err = w.codec.appendValue(w.scratch, &r.events[i], lr); err != nil {
			w.scratch = w.scratch[:start]
			return err
		}
		ends[i] = len(w.scratch)
	}
	// Slice the values only now: appending may have moved w.scratch.
	off := start
	for i := range r.events {
		e := &r.events[i]
		key := r.keys[i][:]
		w.events = append(w.events, entry{key: key, value: w.scratch[off:ends[i]:ends[i]]})
		off = ends[i]
		w.idKeys = append(w.idKeys, key[8:])
		w.log = append(w.log, logEvent{e: e, key: key, seq: refs[i].seq, leaf: refs[i].leaf})
		w.seen[[16]byte(key[8:])] = struct{}{}
		var tags [numTagged][]byte
		for f := range taggedField(numTagged) {
			v, _ := tagged(f, e)
			tags[f] = w.codec.tag(f, v, true)
		}
		if keyTime(key) > w.through {
			// One hot entry holds the event's entries of every index.
			w.newHot++
			_, inConfiguration := tagged(tagConfigName, e)
			requestID, _ := indexed(byRequestID, e, &tags)
			ipAddress, _ := indexed(byIPAddress, e, &tags)
			value := appendHotValue(w.lw.arena.alloc(maxHotValue)[:0], &tags, inConfiguration, requestID, ipAddress)
			w.hot = append(w.hot, entry{key: key, value: value})
			continue
		}
		// An import: its sealed keys.
		for k := range numIndexes {
			if tag, ok := indexed(k, e, &tags); ok {
				value := appendOtherTags(w.lw.arena.alloc(int(numTagged) * (1 + hashTag))[:0], k, &tags)
				w.index[k] = append(w.index[k], entry{key: keyIn(w.tx.Bucket(indexBuckets[k]), k, tag, key, w.through), value: value})
			}
		}
	}
	return nil
}

// maxHotValue bounds the length of a hot entry's value: the flags, four
// tags of at most 1+hashTag bytes, a request ID's hashed tag and an IPv6
// address's tag.
const maxHotValue = 1 + numTagged*(1+hashTag) + (1 + hashTag) + (1 + 16)

// flush puts the staged writes, each bucket's in ascending key order. It is
// the one place where a commit's events are written: whatever the file
// keeps per event is added here, in the same transaction.
func (w *txWriter) flush() error {
	if err := w.codec.dict.flush(w.tx.Bucket(bucketDict)); err != nil {
		return err
	}
	if len(w.events) == 0 {
		return nil
	}
	events := w.tx.Bucket(bucketEvents)
	if err := putSorted(events, w.events); err != nil {
		return err
	}
	w.ids.FillPercent = fillPercent
	if w.noLog {
		slices.SortFunc(w.idKeys, bytes.Compare)
		for _, id := range w.idKeys {
			if err := w.ids.Put(id, nil); err != nil {
				return err
			}
		}
	} else if err := w.lw.appendLog(w.tx, w.log); err != nil { // puts the ids with their sequences
		return err
	}
	if err := addEvents(w.tx, len(w.events)); err != nil {
		return err
	}
	for k := range numIndexes {
		if len(w.index[k]) == 0 {
			continue // and a file of format 2 (Options.NoLog) lacks the actor indexes
		}
		if err := putSorted(w.tx.Bucket(indexBuckets[k]), w.index[k]); err != nil {
			return err
		}
	}
	if err := putSorted(w.tx.Bucket(bucketHot), w.hot); err != nil {
		return err
	}
	w.hotCount += w.newHot
	if w.hotCount <= w.sealAfter {
		return nil
	}
	return w.seal(events)
}

// putSorted puts entries into b in ascending key order, which it sorts
// them into, filling split pages to fillPercent.
func putSorted(b *bolt.Bucket, entries []entry) error {
	b.FillPercent = fillPercent
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	for _, e := range entries {
		if err := b.Put(e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}

// seal moves every hot index entry to the sealed class, and makes the
// newest event's time the sealed time. The hot bucket, then empty, is
// deleted and made anew: that frees its pages without writing them.
func (w *txWriter) seal(events *bolt.Bucket) error {
	newest, _ := events.Cursor().Last()
	through := keyTime(newest)
	c := w.tx.Bucket(bucketHot).Cursor()
	for k := range numIndexes {
		index := w.tx.Bucket(indexBuckets[k])
		index.FillPercent = fillPercent
		if err := w.sealIndex(k, index, c, through); err != nil {
			return err
		}
	}
	if err := w.tx.DeleteBucket(bucketHot); err != nil {
		return err
	}
	if _, err := w.tx.CreateBucket(bucketHot); err != nil {
		return err
	}
	w.through, w.hotCount, w.sealed = through, 0, true
	return w.tx.Bucket(bucketMeta).Put(metaSealed, sealedValue(through))
}

// A hotEntry is a hot index entry that seal moves: its key in the sealed
// class and its value, copied into the transaction's arena, and its tag,
// which the key holds.
type hotEntry struct{ key, tag, value []byte }

// sealIndex moves the hot entries of index k to the sealed class of its
// bucket index, through being the new sealed time: it reads every hot
// event's entry through c, a cursor on the hot bucket, and takes the part
// of those that k files (index.go); seal then drops the hot bucket. The moved entries
// of a value are newer than its sealed ones, so putting them in key order,
// which is the order of their tags and, within a tag, of their event keys,
// appends to the end of each value's range.
func (w *txWriter) sealIndex(k indexKind, index *bolt.Bucket, c *bolt.Cursor, through int64) error {
	moved := w.moved[:0]
	for ek, hv := c.First(); ek != nil; ek, hv = c.Next() {
		ht, ok := parseHot(hv)
		if !ok || len(ek) != keyLen {
			return corruptf("the hot entry of event %x is malformed: %x", ek, hv)
		}
		tag, value := ht.entry(k, w.tagBuf[:0])
		if tag == nil {
			continue // not in this index
		}
		w.tagBuf = value[:0]
		prefix := 1 // 01 | tag | event key
		if isActor(k) {
			prefix = 1 + 8 // 01 | period | tag | event key: a new period, after every other
		}
		b := w.lw.arena.alloc(prefix + len(tag) + keyLen + len(value))
		sk := b[:prefix+len(tag)+keyLen]
		sk[0] = classSealed
		if isActor(k) {
			putTime(sk[1:], through)
		}
		copy(sk[prefix+copy(sk[prefix:], tag):], ek)
		copy(b[len(sk):], value)
		moved = append(moved, hotEntry{key: sk, tag: sk[prefix : prefix+len(tag)], value: b[len(sk):]})
	}
	for _, i := range w.groupByTag(moved) {
		if err := index.Put(moved[i].key, moved[i].value); err != nil {
			return err
		}
	}
	clear(moved) // let the arena's chunks go with the transaction
	w.moved = moved[:0]
	return nil
}

// groupByTag returns the order in which to put the entries of moved, which
// are oldest first: by tag and, within a tag, oldest first. It is a
// counting sort by tag, since an index has far fewer values than hot
// entries (but for a request ID, where the two are near).
func (w *txWriter) groupByTag(moved []hotEntry) []int32 {
	if w.groups == nil {
		w.groups = make(map[string]int)
	}
	clear(w.groups)
	tags, count, group := w.tags[:0], w.count[:0], w.group[:0]
	for _, e := range moved {
		g, ok := w.groups[string(e.tag)]
		if !ok {
			g = len(tags)
			w.groups[string(e.tag)] = g
			tags, count = append(tags, e.tag), append(count, 0)
		}
		count[g]++
		group = append(group, g)
	}
	// next[g]: where the next entry of tag g goes, the tags in order.
	order := make([]int, len(tags))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(tags[a], tags[b]) })
	next := make([]int, len(tags))
	at := 0
	for _, g := range order {
		next[g], at = at, at+count[g]
	}
	out := slices.Grow(w.order[:0], len(moved))[:len(moved)]
	for i := range moved { // oldest first
		g := group[i]
		out[next[g]] = int32(i)
		next[g]++
	}
	clear(tags)
	w.tags, w.count, w.group, w.order = tags[:0], count[:0], group[:0], out[:0]
	return out
}

// hotAdded returns the entries the transaction added to the hot class of
// the user, configuration and account indexes, for the Store's copy
// (hot.go); none when it sealed.
func (w *txWriter) hotAdded() []hotAdd {
	if w.sealed {
		return nil
	}
	added := make([]hotAdd, 0, int(byRequestID)*len(w.hot))
	for _, e := range w.hot { // in event key order (putSorted)
		ht, _ := parseHot(e.value) // as add wrote it
		// The values of the event's entries share one array, which the
		// copy keeps: not the arena's.
		values := make([]byte, 0, int(byRequestID)*len(ht.four))
		for k := range byRequestID {
			from := len(values)
			tag, iv := ht.entry(k, values)
			if tag == nil {
				continue
			}
			values = iv
			added = append(added, hotAdd{kind: k, tag: string(tag), ek: e.key, iv: values[from:len(values):len(values)]})
		}
	}
	return added
}
