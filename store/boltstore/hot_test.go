package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// checkHotCopy checks that the Store's copy of the hot class (hot.go) can
// tell what a read transaction sees, and holds exactly the hot entries the
// file holds, for every value of the user, configuration and account
// indexes.
func checkHotCopy(tb testing.TB, s *Store, step string) {
	tb.Helper()
	err := s.view(func(tx *bolt.Tx) error {
		txid := uint64(tx.ID())
		file, err := buildHot(tx, txid)
		if err != nil {
			return err
		}
		for k := range byRequestID {
			for tag, want := range file[k] {
				got, ok := s.hot.entries(k, []byte(tag), txid)
				if !ok {
					tb.Fatalf("%s: the copy of the hot class cannot tell what transaction %d sees", step, txid)
				}
				seen := visible(got, txid)
				if len(seen) != want.len() {
					tb.Fatalf("%s: index %q, tag %x: the copy holds %d hot entries, the file %d", step, indexBuckets[k], tag, len(seen), want.len())
				}
				for i, w := range want.base { // built from the file: all in base
					if seen[i].ek != w.ek || !bytes.Equal(seen[i].iv, w.iv) {
						tb.Fatalf("%s: index %q, tag %x, entry %d: the copy holds %x %x, the file %x %x", step, indexBuckets[k], tag, i, seen[i].ek, seen[i].iv, w.ek, w.iv)
					}
				}
			}
			s.hot.mu.RLock()
			for tag, l := range s.hot.values[k] {
				if _, ok := file[k][tag]; !ok && len(visible(l, txid)) > 0 {
					tb.Errorf("%s: index %q, tag %x: the copy holds hot entries the file does not", step, indexBuckets[k], tag)
				}
				for _, run := range [][]hotRef{l.base, l.tail} { // hotIter merges two sorted runs
					if !slices.IsSortedFunc(run, func(a, b hotRef) int { return bytes.Compare(a.ek[:], b.ek[:]) }) {
						tb.Errorf("%s: index %q, tag %x: a run of the copy's hot entries is out of event key order", step, indexBuckets[k], tag)
					}
				}
			}
			s.hot.mu.RUnlock()
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// visible returns the entries of l that transaction txid sees, in event key
// order, read as a query reads them (newest first).
func visible(l hotList, txid uint64) []hotRef {
	it := hotIter{l: l}
	it.seekBelow(nil)
	var refs []hotRef
	for r := it.next(); r != nil; r = it.next() {
		if r.txid <= txid {
			refs = append(refs, *r)
		}
	}
	slices.Reverse(refs)
	return refs
}

// TestHotCopyUnderConcurrentQueries runs queries through each index while
// goroutines append, out of time order, across seals: every query must see
// each event of a finished Append, and no event twice (an entry in both
// the copy and the sealed range, or read from a copy that lacks a
// committed entry, would show).
func TestHotCopyUnderConcurrentQueries(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{NoSync: true, sealAfter: 300})
	ctx := context.Background()
	events := storetest.NewGenerator(21).Events(6000)
	user, config := events[0].User, events[0].Configuration
	var (
		mu   sync.Mutex
		done = map[string]bool{} // IDs of finished Appends
	)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w * 5; i < len(events); i += 4 * 5 {
				batch := events[i:min(i+5, len(events))]
				if err := s.Append(ctx, batch...); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, e := range batch {
					done[e.ID] = true
				}
				mu.Unlock()
			}
		}()
	}
	queries := []auditevents.Query{{User: user}, {Configuration: config}, {Account: new(string)}}
	stop := make(chan struct{})
	var qwg sync.WaitGroup
	qwg.Add(1)
	go func() {
		defer qwg.Done()
		for round := 0; ; round++ {
			select {
			case <-stop:
				return
			default:
			}
			q := queries[round%len(queries)]
			mu.Lock()
			before := make(map[string]bool, len(done))
			for id := range done {
				before[id] = true
			}
			mu.Unlock()
			seen := map[string]bool{}
			for e, err := range s.Query(ctx, q) {
				if err != nil {
					t.Error(err)
					return
				}
				if seen[e.ID] {
					t.Errorf("query %+v returned event %s twice", q, e.ID)
					return
				}
				seen[e.ID] = true
			}
			for _, e := range events {
				if before[e.ID] && q.Matches(&e) && !seen[e.ID] {
					t.Errorf("query %+v missed event %s, appended before it began", q, e.ID)
					return
				}
			}
		}
	}()
	wg.Wait()
	close(stop)
	qwg.Wait()
	checkHotCopy(t, s, "after the appends")
}

// TestHotCopyRules checks when the copy of the hot class answers for a read
// transaction, and what it shows it.
func TestHotCopyRules(t *testing.T) {
	var h hotCopy
	tag := []byte{7}
	ek := func(b byte) []byte { k := make([]byte, keyLen); k[0] = b; return k }
	add := func(b byte) []hotAdd { return []hotAdd{{kind: byUser, tag: string(tag), ek: ek(b), iv: []byte{1}}} }
	answers := func(txid uint64) ([]byte, bool) {
		l, ok := h.entries(byUser, tag, txid)
		var firsts []byte
		for _, r := range visible(l, txid) {
			firsts = append(firsts, r.ek[0])
		}
		return firsts, ok
	}
	expect := func(step string, txid uint64, want []byte, wantOK bool) {
		t.Helper()
		got, ok := answers(txid)
		if ok != wantOK || (ok && !bytes.Equal(got, want)) {
			t.Errorf("%s: transaction %d sees %v (answers: %v), want %v (answers: %v)", step, txid, got, ok, want, wantOK)
		}
	}

	expect("before it is built", 1, nil, false)
	_, gen := h.begin()
	built := [byRequestID]map[string]hotList{{string(tag): {base: []hotRef{{ek: [keyLen]byte(ek(5)), txid: 3}}}}}
	h.end(gen, 3, true, &built, false, nil)
	expect("built at 3", 3, []byte{5}, true)
	expect("built at 3", 2, nil, false) // before the copy's base
	expect("built at 3", 4, []byte{5}, true)

	valid, gen := h.begin()
	if !valid {
		t.Fatal("begin: the copy is not valid")
	}
	expect("a writer has begun", 3, []byte{5}, true)
	expect("a writer has begun", 4, nil, false) // may be the writer's, whose entries the copy lacks
	h.end(gen, 4, true, nil, false, add(9))
	expect("4 committed", 4, []byte{5, 9}, true)
	expect("4 committed", 3, []byte{5}, true)

	_, gen = h.begin()
	h.end(gen, 5, true, nil, false, add(7)) // before 9: inserted
	expect("5 committed", 5, []byte{5, 7, 9}, true)
	expect("5 committed", 4, []byte{5, 9}, true)

	_, gen = h.begin()
	h.end(gen, 6, false, nil, false, add(8)) // failed: nothing changes
	expect("6 failed", 6, []byte{5, 7, 9}, true)

	_, gen = h.begin()
	h.end(gen, 6, true, nil, true, nil) // sealed
	expect("6 sealed", 6, nil, true)
	expect("6 sealed", 5, nil, false)

	_, gen = h.begin()
	h.discard() // a prune, between a writer's begin and end
	h.end(gen, 7, true, nil, false, add(1))
	expect("discarded", 7, nil, false)
	_, gen = h.begin()
	h.discard()
	h.end(gen, 7, true, nil, true, nil) // a seal committed before the prune
	expect("sealed, then discarded", 7, nil, false)
	if valid, gen = h.begin(); valid {
		t.Fatal("begin after a discard: the copy is valid")
	}
	built = [byRequestID]map[string]hotList{{string(tag): {base: []hotRef{{ek: [keyLen]byte(ek(1)), txid: 8}}}}}
	h.end(gen, 8, true, &built, false, add(2))
	expect("built again at 8", 8, []byte{1, 2}, true)
	expect("built again at 8", 7, nil, false)
}

// TestHotListAgainstModel inserts runs of entries, mostly in order, some
// not, into a hotList, and checks after each that a reader reads them all
// in order, and that what a reader took before still reads as it did.
func TestHotListAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		l     hotList
		model []uint64
	)
	type taken struct {
		l    hotList
		want []uint64
	}
	var readers []taken
	read := func(l hotList) []uint64 {
		var got []uint64
		for _, r := range visible(l, 1) {
			got = append(got, binary.BigEndian.Uint64(r.ek[:]))
		}
		return got
	}
	next := uint64(1000)
	for i := range 3000 {
		run := make([]hotRef, 1+rng.IntN(3))
		for j := range run {
			v := next
			if rng.IntN(4) == 0 {
				v = next - uint64(rng.IntN(500)) - 1 // before others
			}
			next += 2
			binary.BigEndian.PutUint64(run[j].ek[:], v)
			binary.BigEndian.PutUint16(run[j].ek[8:], uint16(i*4+j)) // distinct keys
			run[j].txid = 1
			at, _ := slices.BinarySearch(model, v)
			model = slices.Insert(model, at, v)
		}
		slices.SortFunc(run, func(a, b hotRef) int { return bytes.Compare(a.ek[:], b.ek[:]) })
		l = l.insert(run)
		if got := read(l); !slices.Equal(got, model) {
			t.Fatalf("after %d inserts: read %d entries, want %d (or out of order)", i+1, len(got), len(model))
		}
		if i%97 == 0 {
			readers = append(readers, taken{l: l, want: slices.Clone(model)})
		}
	}
	if len(l.tail) > maxHotTail {
		t.Errorf("the tail holds %d entries, over %d", len(l.tail), maxHotTail)
	}
	for i, r := range readers {
		if got := read(r.l); !slices.Equal(got, r.want) {
			t.Fatalf("reader %d: what it took changed: %d entries, want %d", i, len(got), len(r.want))
		}
	}
	// seekBelow: every bound between and at entries.
	for _, hi := range []uint64{0, 999, 1000, model[len(model)/2], model[len(model)-1], model[len(model)-1] + 1} {
		var bound [keyLen]byte
		binary.BigEndian.PutUint64(bound[:], hi)
		it := hotIter{l: l}
		it.seekBelow(bound[:])
		var got []uint64
		for r := it.next(); r != nil; r = it.next() {
			got = append(got, binary.BigEndian.Uint64(r.ek[:]))
		}
		var want []uint64
		for i := len(model) - 1; i >= 0; i-- {
			if model[i] < hi {
				want = append(want, model[i])
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("below %d: read %d entries, want %d", hi, len(got), len(want))
		}
	}
}

// TestDamagedHotEntryLeavesAppendsWorking damages the hot bucket with an
// entry whose value does not parse: the copy of the hot class cannot be
// built, so appends go on (the writer does not fail its transactions on
// it), and a query that reads the damaged entry reports the damage.
func TestDamagedHotEntryLeavesAppendsWorking(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.db")
	ctx := context.Background()
	events := storetest.NewGenerator(3).Events(20)
	s := openInternal(t, file, &Options{NoSync: true})
	if err := s.Append(ctx, events[:10]...); err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(file, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		// After every event, so that a query reads it first; a flag
		// that no format has.
		return tx.Bucket(bucketHot).Put(bytes.Repeat([]byte{0xff}, keyLen), []byte{0x80})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s = openInternal(t, file, &Options{NoSync: true})
	for i := 10; i < 20; i++ {
		if err := s.Append(ctx, events[i]); err != nil {
			t.Fatalf("Append after a damaged hot key: %v", err)
		}
	}
	config := events[slices.IndexFunc(events, func(e auditevents.AuditEvent) bool { return e.Configuration != "" })].Configuration
	var qerr error
	for _, err := range s.Query(ctx, auditevents.Query{Configuration: config}) {
		if err != nil {
			qerr = err
			break
		}
	}
	if !errors.Is(qerr, ErrCorrupt) {
		t.Errorf("query through the damaged index: error %v, want one matching ErrCorrupt", qerr)
	}
}

// TestHotValue checks the value of a hot entry against the index entries
// it stands for, for events of every shape: each index that files the
// event finds its tag there and the value of its entry (the other tags),
// exactly as a sealed entry holds them; an index that does not file it
// finds nothing; hotTagOf, which reads only up to the tag, agrees with the
// whole parse; and every value cut short, longer, or with an unknown flag
// is refused.
func TestHotValue(t *testing.T) {
	c := &codec{dict: newDict()}
	events := storetest.WithActors(storetest.NewGenerator(9).Events(300))
	events = append(events, storetest.NewGenerator(10).Events(100)...) // without actor fields
	for i := range events {
		e := &events[i]
		if i%7 == 0 {
			e.Configuration = ""
		}
		var tags [numTagged][]byte
		for f := range taggedField(numTagged) {
			v, _ := tagged(f, e)
			tags[f] = c.tag(f, v, i%2 == 0) // coded and hashed tags alike
		}
		_, inConfiguration := tagged(tagConfigName, e)
		requestID, _ := indexed(byRequestID, e, &tags)
		ipAddress, _ := indexed(byIPAddress, e, &tags)
		v := appendHotValue(nil, &tags, inConfiguration, requestID, ipAddress)
		ht, ok := parseHot(v)
		if !ok {
			t.Fatalf("event %d: the hot value %x does not parse", i, v)
		}
		for k := range numIndexes {
			wantTag, filed := indexed(k, e, &tags)
			tag, iv := ht.entry(k, nil)
			switch {
			case !filed && tag != nil:
				t.Errorf("event %d: index %d, which does not file it, finds tag %x", i, k, tag)
			case filed && (!bytes.Equal(tag, wantTag) || !bytes.Equal(iv, otherTags(k, &tags))):
				t.Errorf("event %d: index %d finds tag %x and value %x, want %x and %x", i, k, tag, iv, wantTag, otherTags(k, &tags))
			}
			if got, ok := hotTagOf(k, v); !ok || !bytes.Equal(got, tag) {
				t.Errorf("event %d: hotTagOf(%d) = %x, %v; want %x", i, k, got, ok, tag)
			}
		}
		for n := range len(v) {
			if _, ok := parseHot(v[:n]); ok {
				t.Errorf("event %d: the value cut to %d of %d bytes parses", i, n, len(v))
			}
		}
		if _, ok := parseHot(append(bytes.Clone(v), 1)); ok {
			t.Errorf("event %d: a value with a byte after its last tag parses", i)
		}
		bad := bytes.Clone(v)
		bad[0] |= 0x08
		if _, ok := parseHot(bad); ok {
			t.Errorf("event %d: a value with an unknown flag parses", i)
		}
		for k := range numIndexes {
			if _, ok := hotTagOf(k, bad); ok {
				t.Errorf("event %d: hotTagOf(%d) accepts an unknown flag", i, k)
			}
		}
	}
}
