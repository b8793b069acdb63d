package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// checkQueries checks that each query returns from s what the naive model,
// a plain scan of events, returns.
func checkQueries(tb testing.TB, s auditevents.Store, events []auditevents.AuditEvent, queries []auditevents.Query, step string) {
	tb.Helper()
	for _, q := range queries {
		want := modelQuery(events, q)
		got, err := auditevents.Collect(s.Query(context.Background(), q))
		if err != nil {
			tb.Fatalf("%s: query %+v: %v", step, q, err)
		}
		if !slices.EqualFunc(got, want, func(a, b auditevents.AuditEvent) bool { return a.Equal(&b) }) {
			tb.Errorf("%s: query %+v: got %d events, want %d", step, q, len(got), len(want))
		}
	}
}

// modelQuery returns what q returns from events by the naive model: a
// plain scan with Query.Matches, sorted, cut at the limit.
func modelQuery(events []auditevents.AuditEvent, q auditevents.Query) []auditevents.AuditEvent {
	var want []auditevents.AuditEvent
	for _, e := range events {
		if q.Matches(&e) {
			want = append(want, e)
		}
	}
	slices.SortFunc(want, auditevents.Compare)
	if q.Limit > 0 && len(want) > q.Limit {
		want = want[:q.Limit]
	}
	return want
}

func openInternal(tb testing.TB, path string, opts *Options) *Store {
	tb.Helper()
	s, err := Open(path, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func TestBackgroundRetention(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	events := storetest.NewGenerator(5).Events(100) // over 2025, in time order
	s := openInternal(t, path, nil)
	if err := s.Append(context.Background(), events...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	keep := 30 * 24 * time.Hour
	want := 0
	for _, e := range events {
		if !e.Timestamp.Before(now.Add(-keep)) {
			want++
		}
	}

	ran := make(chan int, 1)
	s = openInternal(t, path, &Options{
		Retention:     keep,
		PruneInterval: time.Hour,
		Now:           func() time.Time { return now },
		afterRun: func(n int, err error) {
			if err != nil {
				t.Errorf("background retention: %v", err)
			}
			ran <- n
		},
	})
	if got, wantDeleted := <-ran, len(events)-want; got != wantDeleted {
		t.Fatalf("the first background run deleted %d events, want %d", got, wantDeleted)
	}
	got, err := auditevents.Collect(s.Query(context.Background(), auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != want {
		t.Fatalf("%d events remain, want %d", len(got), want)
	}
	if err := s.Close(); err != nil { // stops the background goroutine
		t.Fatal(err)
	}
}

// Check finds damage to an event's hot entry, which holds the event's
// entries of every index: an entry gone, a tag of another value, an index
// left out, a value that does not parse.
func TestCheckFindsIndexDamage(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(hot *bolt.Bucket, ek []byte, other []byte) error
	}{
		{"deleted", func(hot *bolt.Bucket, ek, _ []byte) error { return hot.Delete(ek) }},
		{"another event's tags", func(hot *bolt.Bucket, ek, other []byte) error {
			return hot.Put(ek, bytes.Clone(hot.Get(other)))
		}},
		{"configuration index left out", func(hot *bolt.Bucket, ek, _ []byte) error {
			v := bytes.Clone(hot.Get(ek))
			v[0] &^= hotInConfiguration
			return hot.Put(ek, v)
		}},
		{"unknown flag", func(hot *bolt.Bucket, ek, _ []byte) error {
			v := bytes.Clone(hot.Get(ek))
			v[0] |= 0x80
			return hot.Put(ek, v)
		}},
		{"truncated", func(hot *bolt.Bucket, ek, _ []byte) error {
			v := hot.Get(ek)
			return hot.Put(ek, bytes.Clone(v[:len(v)-1]))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.db")
			s := openInternal(t, path, nil)
			ctx := context.Background()
			events := storetest.NewGenerator(6).Events(50)
			events[10].User, events[10].Configuration = "alice", "nginx:3"
			events[11].User, events[11].Configuration = "bob", "nginx:3"
			if err := s.Append(ctx, events...); err != nil {
				t.Fatal(err)
			}
			if err := s.Check(ctx); err != nil {
				t.Fatalf("Check of a sound store: %v", err)
			}
			key, _ := eventKey(&events[10])
			other, _ := eventKey(&events[11])
			err := s.db.Update(func(tx *bolt.Tx) error {
				hot := tx.Bucket(bucketHot)
				if hot.Get(key[:]) == nil {
					t.Fatal("the event has no hot entry")
				}
				return tt.edit(hot, key[:], other[:])
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check(ctx)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), events[10].ID) {
				t.Fatalf("Check after the damage: got %v, want ErrCorrupt naming %s", err, events[10].ID)
			}
		})
	}
}

// Check finds an entry missing from an actor index, or one filed in the
// wrong period, in a store sealed often enough to have several periods.
func TestCheckFindsActorIndexDamage(t *testing.T) {
	for _, tt := range []struct {
		name string
		edit func(b *bolt.Bucket, key []byte) error
		want string
	}{
		{"missing", func(b *bolt.Bucket, key []byte) error { return b.Delete(key) }, "is missing from index"},
		{"wrong period", func(b *bolt.Bucket, key []byte) error {
			v := bytes.Clone(b.Get(key))
			moved := bytes.Clone(key)
			putTime(moved[1:], keyTime(key[1:])+1) // a period of its own, after its own
			if err := b.Delete(key); err != nil {
				return err
			}
			return b.Put(moved, v)
		}, "is missing from index"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{sealAfter: 50})
			ctx := context.Background()
			events := storetest.WithActors(storetest.NewGenerator(6).Events(400))
			for i := 0; i < len(events); i += 40 {
				if err := s.Append(ctx, events[i:i+40]...); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Check(ctx); err != nil {
				t.Fatalf("Check of a sound store: %v", err)
			}
			e := events[10] // sealed, with an IP address
			key, _ := eventKey(&e)
			err := s.db.Update(func(tx *bolt.Tx) error {
				sealed, err := sealedTime(tx)
				if err != nil {
					return err
				}
				b := tx.Bucket(bucketByIPAddress)
				k := keyIn(b, byIPAddress, ipTag(netip.MustParseAddr(e.IPAddress)), key[:], sealed)
				if k[0] != classSealed || b.Get(k) == nil {
					t.Fatalf("event 10 has no sealed entry %x", k)
				}
				return tt.edit(b, k)
			})
			if err != nil {
				t.Fatal(err)
			}
			err = s.Check(ctx)
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), e.ID) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check: got %v, want ErrCorrupt naming %s", err, e.ID)
			}
		})
	}
}

func TestKindTableGrowsAndUnknownCodesFail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.db")
	s := openInternal(t, path, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A file whose table holds fewer kinds than this version knows, in an
	// order of its own: codes follow the file's table, and Open appends the
	// missing kinds after them.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	names := kindNames()
	short := slices.Clone(names[:10])
	slices.Reverse(short)
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaKinds, newCodeTable(short).bytes())
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	e := storetest.NewGenerator(7).Events(1)[0]
	e.ResourceKind = auditevents.KindAgent // names[1], so code 9 in the file
	s = openInternal(t, path, nil)
	if err := s.Append(ctx, e); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openInternal(t, path, nil)
	if got, want := len(s.codec.kinds.names), len(names); got != want {
		t.Fatalf("kind table has %d names after Open, want %d", got, want)
	}
	if got, want := s.codec.kinds.codes[string(auditevents.KindAgent)], 9; got != want {
		t.Fatalf("Agent has code %d, want the file's %d", got, want)
	}
	got, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil || len(got) != 1 || !got[0].Equal(&e) {
		t.Fatalf("Query after reopening: %+v, %v; want %+v", got, err, e)
	}

	// A kind code the table does not have is an error, not a panic.
	c := s.codec
	c.kinds = newCodeTable(nil)
	key, _ := eventKey(&e)
	v, err := s.codec.appendValue(nil, &e, &logRef{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.decode(key[:], v); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "kind code") {
		t.Fatalf("decode with an unknown kind code: got %v, want ErrCorrupt", err)
	}
}

func FuzzDecode(f *testing.F) {
	c := codec{kinds: newCodeTable(kindNames()), actions: newCodeTable(documentedActions), dict: newDict()}
	for i, e := range storetest.WithActors(storetest.NewGenerator(8).Events(5)) {
		v, err := c.appendValue(nil, &e, &logRef{seq: int64(i) * 1000, check: [leafCheckLen]byte{byte(i), 1, 2, 3}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(v)
	}
	key := make([]byte, keyLen)
	f.Fuzz(func(t *testing.T, v []byte) {
		e, seq, check, err := c.decodeEntry(key, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What decodes encodes back to the same event.
		again, err := c.appendValue(nil, &e, &logRef{seq: seq, check: check})
		if err != nil {
			t.Fatal(err)
		}
		if e2, err := c.decode(key, again); err != nil || !e2.Equal(&e) {
			t.Fatalf("re-encoding %+v gives %+v, %v", e, e2, err)
		}
	})
}

// TestIndexesAgainstModel appends a year of events in batches to a store
// that seals every few hundred events, then events older than everything
// sealed, prunes the oldest, and at every step checks each index path
// against a plain scan of the events stored, and the invariants of the
// index classes: every sealed entry is at or before the sealed time, every
// hot entry after it, and the hot class stays near its bound.
func TestIndexesAgainstModel(t *testing.T) {
	const sealAfter = 250
	// prefetchAll: every index path reads window by window and prefetches
	// (prefetch.go), as a query on a cold file does.
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{sealAfter: sealAfter, prefetchAll: true})
	ctx := context.Background()
	events := storetest.WithActors(storetest.NewGenerator(9).Events(3000)) // over a year
	var stored []auditevents.AuditEvent
	acme := "acme"
	check := func(step string) {
		t.Helper()
		if err := s.Check(ctx); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		checkHotCopy(t, s, step)
		err := s.view(func(tx *bolt.Tx) error {
			through, err := sealedTime(tx)
			if err != nil {
				return err
			}
			if through == noneSealed && len(stored) > 2*sealAfter {
				t.Errorf("%s: nothing sealed after %d events", step, len(stored))
			}
			for k := range numIndexes {
				hot := 0
				prevPeriod, period := int64(math.MinInt64), int64(math.MinInt64)
				err := tx.Bucket(indexBuckets[k]).ForEach(func(key, _ []byte) error {
					_, ek := parseKey(k, key)
					if isActor(k) && key[0] == classSealed {
						// Each period holds the events after the period
						// before it, up to its own time.
						if p := keyTime(key[1:]); p != period {
							prevPeriod, period = period, p
						}
						if et := keyTime(ek); et > period || et <= prevPeriod {
							t.Errorf("%s: entry %x of index %s is not in its period (after %d, up to %d)", step, key, indexBuckets[k], prevPeriod, period)
						}
					}
					switch {
					case key[0] == classHot && keyTime(ek) <= through:
						t.Errorf("%s: hot entry %x of index %s is not after the sealed time", step, key, indexBuckets[k])
					case key[0] == classSealed && keyTime(ek) > through:
						t.Errorf("%s: sealed entry %x of index %s is after the sealed time", step, key, indexBuckets[k])
					case key[0] == classHot:
						hot++
					}
					return nil
				})
				if err != nil {
					return err
				}
				if hot > sealAfter+100 {
					t.Errorf("%s: index %s has %d hot entries, want at most the bound %d and a batch", step, indexBuckets[k], hot, sealAfter)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mid := stored[len(stored)/2].Timestamp
		actorQueries := []auditevents.Query{
			{RequestID: "req-120"},
			{RequestID: "req-120", Account: &acme},
			{RequestID: "req-77", Since: mid},
			{RequestID: "req-none"},
			{IPAddress: netip.MustParsePrefix("10.0.1.7/32")},
			{IPAddress: netip.MustParsePrefix("10.0.1.7/32"), User: "user07@example.com", Before: mid},
			{IPAddress: netip.MustParsePrefix("10.0.1.0/24"), Since: mid.Add(-60 * 24 * time.Hour), Before: mid},
			{IPAddress: netip.MustParsePrefix("10.0.1.0/24"), Limit: 20},
			{IPAddress: netip.MustParsePrefix("10.0.0.0/8"), Configuration: "config-012"},
			{IPAddress: netip.MustParsePrefix("0.0.0.0/0"), Account: &acme},
			{IPAddress: netip.MustParsePrefix("2001:db8::3/128")},
			{IPAddress: netip.MustParsePrefix("2001:db8::/32"), After: stored[len(stored)/3].Cursor()},
			{IPAddress: netip.MustParsePrefix("::/0")},
			{IPAddress: netip.MustParsePrefix("10.0.2.9/32"), Limit: 4, After: stored[len(stored)/2].Cursor()},
		}
		checkActorPaths(t, s, stored, actorQueries, step)
		checkQueries(t, s, stored, append(actorQueries, []auditevents.Query{
			{User: "user07@example.com"},
			{User: "user07@example.com", Since: mid, Before: mid.Add(40 * 24 * time.Hour)},
			{Configuration: "config-012"},
			{Configuration: "config-012:3"},
			{Account: &acme, Before: mid},
			{User: "nobody"},
			{User: "user07@example.com", Configuration: "config-012"},
			{User: "user07@example.com", Account: &acme, Since: mid},
			{Configuration: "config-012:3", Account: &acme},
			{Configuration: "config-999", User: "user01@example.com"},
			{User: "user07@example.com", Limit: 5, After: stored[len(stored)/3].Cursor()},
			{Account: &acme, Limit: 3},
		}...), step)
	}
	late := events[:300] // the first month, appended last
	for i := 300; i < len(events); i += 97 {
		batch := events[i:min(i+97, len(events))]
		if err := s.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, batch...)
		if (i/97)%6 == 0 {
			check(fmt.Sprintf("after %d events", len(stored)))
		}
	}
	for i := 0; i < len(late); i += 50 {
		if err := s.Append(ctx, late[i:i+50]...); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, late[i:i+50]...)
	}
	check("after old events")
	cut := events[1000].Timestamp
	if _, err := s.Prune(ctx, cut); err != nil {
		t.Fatal(err)
	}
	stored = slices.DeleteFunc(stored, func(e auditevents.AuditEvent) bool { return e.Timestamp.Before(cut) })
	check("after a prune")
	more := storetest.WithActors(storetest.NewGenerator(14).Events(400))
	for i := range more {
		more[i].Timestamp = events[len(events)-1].Timestamp.Add(time.Duration(i+1) * time.Minute)
	}
	for i := 0; i < len(more); i += 40 {
		if err := s.Append(ctx, more[i:i+40]...); err != nil {
			t.Fatal(err)
		}
		stored = append(stored, more[i:i+40]...)
	}
	check("after appends past the prune")
}

// checkActorPaths checks that each query, read through the actor index of
// its request ID or IP address filter whatever the planner would choose,
// in chunks of a few events, returns what a plain scan of events returns.
func checkActorPaths(tb testing.TB, s *Store, events []auditevents.AuditEvent, queries []auditevents.Query, step string) {
	tb.Helper()
	for _, q := range queries {
		p := path{kind: byIPAddress}
		if q.RequestID != "" {
			p = path{kind: byRequestID, tag: hashedTag(q.RequestID)}
			p.hiTag = p.tag
		} else {
			p.tag, p.hiTag = ipRange(q.IPAddress)
		}
		want := modelQuery(events, q)
		b := queryBounds(&q)
		var got []auditevents.AuditEvent
		hi, done := b.hi, false
		for !done {
			err := s.view(func(tx *bolt.Tx) error {
				var err error
				got, hi, done, err = s.scan(tx, p, &q, b.lo, hi, got, len(got)+3, nil, nil)
				return err
			})
			if err != nil {
				tb.Fatalf("%s: query %+v through its actor index: %v", step, q, err)
			}
		}
		if q.Limit > 0 && len(got) > q.Limit {
			got = got[:q.Limit]
		}
		if !slices.EqualFunc(got, want, func(a, b auditevents.AuditEvent) bool { return a.Equal(&b) }) {
			tb.Errorf("%s: query %+v through its actor index: got %d events, want %d", step, q, len(got), len(want))
		}
	}
}

// TestAppendAtChunkBoundarySeen appends, from the loop body, an event that
// falls between the last event the first chunk looked at and the next one:
// it comes after the query's position, so the query must return it.
func TestAppendAtChunkBoundarySeen(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{NoSync: true})
	ctx := context.Background()
	n := chunkScanned + 9
	events := storetest.NewGenerator(11).Events(n)
	for i := range events {
		events[i].Timestamp = storetest.GeneratorStart.Add(time.Duration(i) * 2 * time.Second)
		events[i].ResourceName = "other"
	}
	events[n-1].ResourceName = "wanted" // the newest, in the first chunk
	if err := s.Append(ctx, events...); err != nil {
		t.Fatal(err)
	}
	// The first chunk looks at events n-1 down to n-chunkScanned; add one
	// just after the next, older one.
	next := events[n-chunkScanned-1]
	added := storetest.NewGenerator(12).Events(1)[0]
	added.Timestamp = next.Timestamp.Add(time.Second)
	added.ResourceName = "wanted"

	var got []string
	for e, err := range s.Query(ctx, auditevents.Query{ResourceName: "wanted"}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.ID)
		if len(got) == 1 {
			if err := s.Append(ctx, added); err != nil {
				t.Fatal(err)
			}
		}
	}
	if want := []string{events[n-1].ID, added.ID}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestBugIsNotCorruption checks that a panic of this package's own code
// inside a read is reported with its value and stack, and not as damage to
// the file, which is sound.
func TestBugIsNotCorruption(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), nil)
	err := s.view(func(tx *bolt.Tx) error {
		var codes []int
		_ = codes[len(tx.Bucket(bucketMeta).Get(metaFormat))] // index out of range
		return nil
	})
	var bug *bugError
	switch {
	case err == nil:
		t.Fatal("a panicking read returned nil")
	case errors.Is(err, ErrCorrupt):
		t.Fatalf("a bug was reported as damage to the file: %v", err)
	case !errors.As(err, &bug):
		t.Fatalf("got %T %v, want a *bugError", err, err)
	case !strings.Contains(err.Error(), "index out of range") || !strings.Contains(err.Error(), "TestBugIsNotCorruption"):
		t.Fatalf("the error does not keep the panic value and the stack:\n%v", err)
	}
	// The store still works.
	if err := s.Append(context.Background(), storetest.NewGenerator(13).Events(1)...); err != nil {
		t.Fatal(err)
	}
}

// TestRetentionQuietOnClose closes a store while its background retention
// runs: a prune cut short by Close is no failure, and nothing is logged at
// ERROR.
func TestRetentionQuietOnClose(t *testing.T) {
	var logged bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelError}))
	path := filepath.Join(t.TempDir(), "audit.db")
	opened := make(chan *Store, 1)
	ran := make(chan error, 1)
	closed := make(chan error, 1)
	s := openInternal(t, path, &Options{
		Retention: time.Hour,
		Logger:    logger,
		Now: func() time.Time {
			// Close the store before this run prunes, and wait until
			// Close has begun.
			s := <-opened
			go func() { closed <- s.Close() }()
			<-s.stop
			return time.Now()
		},
		afterRun: func(_ int, err error) { ran <- err },
	})
	opened <- s
	if err := <-ran; !errors.Is(err, auditevents.ErrClosed) && !errors.Is(err, context.Canceled) {
		t.Fatalf("the run cut short by Close returned %v, want ErrClosed or context.Canceled", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if logged.Len() > 0 {
		t.Errorf("Close of a store with retention logged:\n%s", logged.String())
	}
}

// TestFullDictionary fills the dictionary's share of users and of resource
// names with one-off values, and checks that the values past its bound are
// stored as they are and found by every filter, before and after
// reopening, that the other fields still get codes, and that Check passes.
func TestFullDictionary(t *testing.T) {
	if testing.Short() {
		t.Skip("appends 33,000 events")
	}
	path := filepath.Join(t.TempDir(), "audit.db")
	s := openInternal(t, path, &Options{NoSync: true})
	ctx := context.Background()
	n := maxDictEntries + 300
	events := storetest.NewGenerator(16).Events(n)
	for i := range events {
		events[i].User = fmt.Sprintf("user-%06d", i)
		events[i].ResourceName = fmt.Sprintf("resource-%06d", i)
		events[i].Configuration = ""
	}
	late := events[n-1]
	late.ID = storetest.NewGenerator(17).Events(1)[0].ID
	late.Configuration = "config-after-the-others:2" // a new value of a field with room
	events = append(events, late)
	for i := 0; i < len(events); i += 1000 {
		if err := s.Append(ctx, events[i:min(i+1000, len(events))]...); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 2 {
		d := s.codec.dict
		if got := d.lookup(fieldUser, "user-000010"); got == 0 {
			t.Errorf("round %d: an early user has no code", round)
		}
		if got := d.lookup(fieldUser, fmt.Sprintf("user-%06d", n-1)); got != 0 {
			t.Errorf("round %d: a user past the bound has code %d", round, got)
		}
		if got := d.lookup(fieldConfiguration, late.Configuration); got == 0 {
			t.Errorf("round %d: a configuration has no code although its field has room", round)
		}
		checkQueries(t, s, events, []auditevents.Query{
			{User: "user-000010"},
			{User: fmt.Sprintf("user-%06d", n-2)},
			{ResourceName: fmt.Sprintf("resource-%06d", n-3)},
			{Configuration: "config-after-the-others"},
			{Configuration: late.Configuration, User: late.User},
		}, fmt.Sprintf("round %d", round))
		if err := s.Check(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openInternal(t, path, nil)
	}
}

// TestDictAgainstModel runs random transactions of additions, some of
// which fail, against the dictionary and against a plain map of committed
// codes, with a small bound so that fields fill up, and checks after each
// that both agree, and that loading the bucket gives the same dictionary.
func TestDictAgainstModel(t *testing.T) {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "dict.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(bucketDict); return err }); err != nil {
		t.Fatal(err)
	}
	type key struct {
		field int
		s     string
	}
	model := map[key]uint32{} // committed codes
	var order []key           // model's codes in order: order[i] has code i+1
	d := newDict()
	d.limit = 300 // so that fields fill up
	rng := rand.New(rand.NewPCG(18, 1))
	long := strings.Repeat("y", maxDictUserAgent+1)
	for txn := range 300 {
		fail := rng.IntN(4) == 0
		added := map[key]uint32{}
		var addedOrder []key
		err := db.Update(func(tx *bolt.Tx) error {
			for range rng.IntN(200) {
				k := key{rng.IntN(numDictFields), fmt.Sprintf("v%d", rng.IntN(2000))}
				if rng.IntN(50) == 0 {
					k.s = long
				}
				want, ok := model[k]
				if !ok {
					want, ok = added[k]
				}
				full := 0
				for _, c := range order {
					if c.field == k.field {
						full++
					}
				}
				for _, c := range addedOrder {
					if c.field == k.field {
						full++
					}
				}
				if !ok && len(k.s) <= maxDictLen(k.field) && full < d.limit {
					want = uint32(len(order) + len(addedOrder) + 1)
					added[k] = want
					addedOrder = append(addedOrder, k)
				}
				if got := d.code(k.field, k.s); got != want {
					t.Fatalf("transaction %d: code(%d, %q) = %d, want %d", txn, k.field, k.s, got, want)
				}
			}
			if err := d.flush(tx.Bucket(bucketDict)); err != nil {
				return err
			}
			if fail {
				return errors.New("rolled back")
			}
			return nil
		})
		if (err != nil) != fail {
			t.Fatal(err)
		}
		d.endTx(!fail)
		if !fail {
			for _, k := range addedOrder {
				model[k] = added[k]
			}
			order = append(order, addedOrder...)
		}
		for i, k := range order {
			if got, ok := d.name(uint64(i + 1)); !ok || got != k.s || d.lookup(k.field, k.s) != uint32(i+1) {
				t.Fatalf("transaction %d: code %d is %q (%v), want %q", txn, i+1, got, ok, k.s)
			}
		}
		if _, ok := d.name(uint64(len(order) + 1)); ok {
			t.Fatalf("transaction %d: code %d exists, past the committed ones", txn, len(order)+1)
		}
	}
	loaded := newDict()
	if err := db.View(func(tx *bolt.Tx) error { return loaded.load(tx.Bucket(bucketDict)) }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(loaded.names, d.names) || !slices.Equal(loaded.fields, d.fields) {
		t.Fatalf("the loaded dictionary has %d codes, the written one %d", len(loaded.names), len(d.names))
	}
}

// leafHasher gives the leaf that auditevents.LeafHash defines, and a leaf
// check that every field and the sequence change.
func TestLeafHasher(t *testing.T) {
	e := auditevents.AuditEvent{ID: "01ARZ3NDEKTSV4RRFFQ69G5FAV", Timestamp: time.UnixMicro(1_700_000_000_123_456).UTC(),
		Account: "acme", User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent,
		ResourceName: "agent-1", Configuration: "prod:3", Description: "created"}
	var h leafHasher
	leaf, check := h.leaf(7, &e)
	if want := auditevents.LeafHash(7, &e); leaf != want {
		t.Errorf("leaf = %x, want LeafHash %x", leaf, want)
	}
	if h.check(7, &e) != check {
		t.Error("check differs from leaf's check")
	}
	if _, c := h.leaf(8, &e); c == check {
		t.Error("the leaf check does not change with the sequence")
	}
	changed := e
	changed.Description = "createD"
	if _, c := h.leaf(7, &changed); c == check {
		t.Error("the leaf check does not change with the description")
	}
}

// TestPlanPicksTheCheapestPath checks that the planner, which counts the
// index paths a round at a time, picks a path as cheap as counting every
// path to its end would: for queries that combine filters whose values
// have few, some and many events.
func TestPlanPicksTheCheapestPath(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{NoSync: true, sealAfter: 500})
	ctx := context.Background()
	events := storetest.NewGenerator(11).Events(6000)
	for i := 0; i < len(events); i += 1000 {
		if err := s.Append(ctx, events[i:i+1000]...); err != nil {
			t.Fatal(err)
		}
	}
	acme, none := "acme", ""
	mid := events[3000].Timestamp
	var queries []auditevents.Query
	for _, e := range events[:40] {
		queries = append(queries,
			auditevents.Query{User: e.User, Configuration: e.Configuration},
			auditevents.Query{User: e.User, Account: &e.Account},
			auditevents.Query{Configuration: e.Configuration, Account: &acme, Since: mid},
			auditevents.Query{User: e.User, Configuration: e.Configuration, Account: &none, Before: mid},
		)
	}
	queries = append(queries, auditevents.Query{Account: &none}) // more matching entries than the planner lists
	listedSome, listedNone := false, false
	err := s.view(func(tx *bolt.Tx) error {
		for _, q := range queries {
			b := queryBounds(&q)
			p, _, listed, err := s.plan(tx, &q, b)
			if err != nil {
				return err
			}
			// The keys listed are those of the events that match: every
			// filter of these queries is one that index entries carry.
			if want := modelQuery(events, q); listed != nil {
				listedSome = true
				var keys []byte
				for i := range want { // newest first, as listed
					k, err := eventKey(&want[i])
					if err != nil {
						t.Fatal(err)
					}
					keys = append(keys, k[:]...)
				}
				if !bytes.Equal(listed, keys) {
					t.Errorf("query %+v: the planner listed %d keys, want the %d of the matching events", q, len(listed)/keyLen, len(want))
				}
			} else if len(want) > maxListed {
				listedNone = true
			}
			// Every path counted to its end.
			cost := func(p path) int {
				if p.kind == primary {
					est, err := estimateRange(tx, b)
					if err != nil {
						t.Fatal(err)
					}
					return est
				}
				c, err := newCounter(tx, p, b, &s.hot)
				if err == nil {
					err = c.count(math.MaxInt)
				}
				if err != nil {
					t.Fatal(err)
				}
				return c.entries + c.matching*indexCostFactor
			}
			cheapest := cost(path{kind: primary})
			for _, ip := range s.indexPaths(tx, &q) {
				cheapest = min(cheapest, cost(ip))
			}
			if got := cost(p); got != cheapest {
				t.Errorf("query %+v: the planner picked a path of cost %d, the cheapest costs %d", q, got, cheapest)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !listedSome || !listedNone {
		t.Errorf("the planner listed keys for some queries: %v; left a path of more than %d matching entries unlisted: %v; want both", listedSome, maxListed, listedNone)
	}
	// The queries return the matching events, whether the scan reads what
	// the planner listed through the prefetcher or looks them up itself.
	stored, err := auditevents.Collect(s.Query(ctx, auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	for _, noPrefetch := range []bool{false, true} {
		s.noPrefetch = noPrefetch
		for _, q := range queries {
			want := modelQuery(stored, q)
			got, err := auditevents.Collect(s.Query(ctx, q))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, want, func(a, b auditevents.AuditEvent) bool { return a.Equal(&b) }) {
				t.Errorf("query %+v (noPrefetch %v): got %d events, want %d", q, noPrefetch, len(got), len(want))
			}
		}
	}
}

// TestCheckBesideAppends runs Check while other goroutines append: bbolt's
// look at the free pages must not meet a commit halfway, which stops the
// program or reports pages a commit freed as lost.
func TestCheckBesideAppends(t *testing.T) {
	s := openInternal(t, filepath.Join(t.TempDir(), "audit.db"), &Options{NoSync: true, sealAfter: 300})
	events := storetest.NewGenerator(12).Events(6000)
	ctx := context.Background()
	if err := s.Append(ctx, events[:1000]...); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		for i := 1000; i < len(events); i += 10 {
			if err := s.Append(ctx, events[i:i+10]...); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	checks := 0
	for running := true; running || checks < 3; checks++ {
		if err := s.Check(ctx); err != nil {
			t.Fatalf("Check beside appends, after %d checks: %v", checks, err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			running = false
		default:
		}
	}
}
