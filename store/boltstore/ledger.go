package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"hash/crc32"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditevents/auditevents"
)

// The verifiable log of each account lives in the log bucket (FORMAT.md,
// "log"). Its keys are the account, a 0 byte (no account holds one), a kind
// byte and, but for the size, a big-endian uint64.
var bucketLog = []byte("log")

// Kinds of log keys.
const (
	logLeaves byte = 'l' // a leaf tile: the leaves of 16 sequences
	logNode   byte = 'n' // a stored tree hash of level 4 or more, by stored hash index
	logSeqs   byte = 'q' // a sequence tile: the event keys of 16 sequences
	logSize   byte = 's' // the tree size
)

const (
	// tileWidth is how many sequences a leaf tile and a sequence tile
	// hold: a complete subtree of level 4 or less lies in one leaf tile.
	tileWidth = 16
	// storedLevel is the lowest level above the leaves whose hashes are
	// stored; the hashes of levels 1 to 3 are computed from a leaf tile
	// when read.
	storedLevel = 4
)

var _ auditevents.Ledger = (*Store)(nil)

// logKey returns the key of the given kind and number in an account's log.
func logKey(account string, kind byte, n uint64) []byte {
	k := make([]byte, 0, len(account)+10)
	k = append(k, account...)
	k = append(k, 0, kind)
	if kind != logSize {
		k = binary.BigEndian.AppendUint64(k, n)
	}
	return k
}

// sealValue returns b after its CRC-32C.
func sealValue(b []byte) []byte {
	v := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(v, crc32.Checksum(b, castagnoli))
	return append(v, b...)
}

// openValue returns the content of a value written by sealValue, or an
// error wrapping ErrCorrupt naming what.
func openValue(v []byte, what string) ([]byte, error) {
	if len(v) < 4 || binary.BigEndian.Uint32(v) != crc32.Checksum(v[4:], castagnoli) {
		return nil, corruptf("%s fails its checksum", what)
	}
	return v[4:], nil
}

// treeSize returns the size of an account's tree.
func treeSize(b *bolt.Bucket, account string) (int64, error) {
	if strings.IndexByte(account, 0) >= 0 {
		// No event holds such an account (Validate refuses NUL), and its
		// key could name another account's tile: its tree is empty.
		return 0, nil
	}
	v := b.Get(logKey(account, logSize, 0))
	if v == nil {
		return 0, nil
	}
	c, err := openValue(v, "the tree size of account "+quoteAccount(account))
	if err != nil {
		return 0, err
	}
	if len(c) != 8 || int64(binary.BigEndian.Uint64(c)) < 0 {
		return 0, corruptf("the tree size of account %s is malformed", quoteAccount(account))
	}
	return int64(binary.BigEndian.Uint64(c)), nil
}

func quoteAccount(a string) string {
	if len(a) > 64 {
		a = a[:64] + "…"
	}
	return `"` + a + `"`
}

// tileItems returns the items of width bytes of a tile value.
func tileItems(v []byte, width int, what string) ([]byte, error) {
	c, err := openValue(v, what)
	if err != nil {
		return nil, err
	}
	if len(c)%width != 0 || len(c)/width > tileWidth {
		return nil, corruptf("%s has %d bytes", what, len(c))
	}
	return c, nil
}

// treeReader reads an account's stored tree hashes in a transaction: it is
// the tlog.HashReader of TreeAppend, proofs and checkpoints.
type treeReader struct {
	b       *bolt.Bucket
	account string
	tile    int64 // the leaf tile in leaves, or -1
	leaves  []byte
}

func newTreeReader(b *bolt.Bucket, account string) *treeReader {
	return &treeReader{b: b, account: account, tile: -1}
}

// leaf returns the leaf of sequence n.
func (r *treeReader) leaf(n int64) (tlog.Hash, error) {
	if t := n / tileWidth; t != r.tile {
		what := "leaf tile " + itoa(t) + " of account " + quoteAccount(r.account)
		v := r.b.Get(logKey(r.account, logLeaves, uint64(t)))
		if v == nil {
			return tlog.Hash{}, corruptf("%s is missing", what)
		}
		items, err := tileItems(v, tlog.HashSize, what)
		if err != nil {
			return tlog.Hash{}, err
		}
		r.tile, r.leaves = t, items
	}
	off := int(n%tileWidth) * tlog.HashSize
	if off+tlog.HashSize > len(r.leaves) {
		return tlog.Hash{}, corruptf("leaf %d of account %s is missing", n, quoteAccount(r.account))
	}
	return tlog.Hash(r.leaves[off : off+tlog.HashSize]), nil
}

// ReadHashes returns the hashes at the given stored hash indexes.
func (r *treeReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		level, n := tlog.SplitStoredHashIndex(x)
		switch {
		case level == 0:
			h, err := r.leaf(n)
			if err != nil {
				return nil, err
			}
			out[i] = h
		case level < storedLevel:
			// A complete subtree of 2, 4 or 8 leaves, in one tile.
			width := int64(1) << level
			hs := make([]tlog.Hash, width)
			for j := range width {
				h, err := r.leaf(n*width + j)
				if err != nil {
					return nil, err
				}
				hs[j] = h
			}
			for len(hs) > 1 {
				for j := 0; j < len(hs); j += 2 {
					hs[j/2] = tlog.NodeHash(hs[j], hs[j+1])
				}
				hs = hs[:len(hs)/2]
			}
			out[i] = hs[0]
		default:
			what := "tree hash " + itoa(x) + " of account " + quoteAccount(r.account)
			v := r.b.Get(logKey(r.account, logNode, uint64(x)))
			if v == nil {
				return nil, corruptf("%s is missing", what)
			}
			c, err := openValue(v, what)
			if err != nil {
				return nil, err
			}
			if len(c) != tlog.HashSize {
				return nil, corruptf("%s has %d bytes", what, len(c))
			}
			out[i] = tlog.Hash(c)
		}
	}
	return out, nil
}

// logEvent is an event staged for its account's log, in commit order.
type logEvent struct {
	e   *auditevents.AuditEvent
	key []byte // its event key
}

// logWriter writes the staged events' part of the log (appendLog). It
// keeps its buffers from one transaction to the next: what it puts lives in
// its arena, which bbolt reads until the transaction ends, so reset, which
// lets the arena be written again, is called only between transactions.
type logWriter struct {
	arena   arena
	groups  map[string]int // an account's index in counts
	counts  []int          // staged events per account, then offsets in grouped
	grouped []logEvent     // the staged events by account, in commit order within one
	leaves  []tlog.Hash
	ids     []idValue
}

// reset lets the arena be written again; the transaction that used it must
// have ended.
func (lw *logWriter) reset() { lw.arena.reset() }

// appendLog gives the staged events their sequences, in order, and writes
// their leaves, tree hashes, sequence tiles and their entries in the ids
// bucket, with their sequences. It is called by txWriter.flush and by the
// upgrade of an older file, in the transaction that writes the events. Each
// tile and each account's size is put once per call, whatever the number of
// the account's events in it.
func (lw *logWriter) appendLog(tx *bolt.Tx, staged []logEvent) error {
	if len(staged) == 0 {
		return nil
	}
	b := tx.Bucket(bucketLog)
	b.FillPercent = fillPercent
	ids := tx.Bucket(bucketIDs)
	ids.FillPercent = fillPercent

	// Group the staged events by account, keeping commit order within
	// each account and the order of the accounts' first events.
	if lw.groups == nil {
		lw.groups = make(map[string]int)
	}
	clear(lw.groups)
	lw.counts = lw.counts[:0]
	idx := make([]int32, len(staged)) // each staged event's account
	for i := range staged {
		g, ok := lw.groups[staged[i].e.Account]
		if !ok {
			g = len(lw.counts)
			lw.groups[staged[i].e.Account] = g
			lw.counts = append(lw.counts, 0)
		}
		idx[i] = int32(g)
		lw.counts[g]++
	}
	off := 0
	for g, c := range lw.counts {
		lw.counts[g] = off
		off += c
	}
	lw.grouped = slices.Grow(lw.grouped[:0], len(staged))[:len(staged)]
	for i := range staged {
		g := idx[i]
		lw.grouped[lw.counts[g]] = staged[i]
		lw.counts[g]++
	}

	lw.ids = slices.Grow(lw.ids[:0], len(staged))
	for rest := lw.grouped; len(rest) > 0; {
		account := rest[0].e.Account
		end := lw.counts[lw.groups[account]] - (len(lw.grouped) - len(rest))
		group := rest[:end]
		rest = rest[end:]
		if err := lw.appendAccount(b, account, group); err != nil {
			return err
		}
	}
	// In key order, consecutive puts land on the same pages.
	slices.SortFunc(lw.ids, func(a, b idValue) int {
		if c := cmp.Compare(binary.BigEndian.Uint64(a.id[:8]), binary.BigEndian.Uint64(b.id[:8])); c != 0 {
			return c
		}
		return cmp.Compare(binary.BigEndian.Uint64(a.id[8:]), binary.BigEndian.Uint64(b.id[8:]))
	})
	for i := range lw.ids {
		iv := &lw.ids[i]
		if err := ids.Put(iv.id, iv.value); err != nil {
			return err
		}
	}
	return nil
}

// appendAccount appends one account's staged events to its log, and
// stages their ids entries in lw.ids.
func (lw *logWriter) appendAccount(b *bolt.Bucket, account string, group []logEvent) error {
	n, err := treeSize(b, account)
	if err != nil {
		return err
	}
	lw.leaves = slices.Grow(lw.leaves[:0], len(group))[:len(group)]
	for i, s := range group {
		seq := n + int64(i)
		lw.leaves[i] = auditevents.LeafHash(seq, s.e)
		value := lw.arena.alloc(16)
		copy(value[:8], s.key[:8])
		binary.BigEndian.PutUint64(value[8:], uint64(seq))
		lw.ids = append(lw.ids, idValue{id: s.key[8:keyLen], value: value})
	}
	hashes, err := auditevents.TreeAppend(n, lw.leaves, newTreeReader(b, account))
	if err != nil {
		return err
	}
	base := tlog.StoredHashCount(n)
	for i := range hashes {
		if level, _ := tlog.SplitStoredHashIndex(base + int64(i)); level >= storedLevel {
			key := lw.logKey(account, logNode, uint64(base+int64(i)))
			if err := b.Put(key, lw.sealValue(hashes[i][:])); err != nil {
				return err
			}
		}
	}
	leaf := func(i int) []byte { return lw.leaves[i][:] }
	if err := lw.appendTiles(b, account, logLeaves, n, len(group), tlog.HashSize, leaf); err != nil {
		return err
	}
	seqKey := func(i int) []byte { return group[i].key }
	if err := lw.appendTiles(b, account, logSeqs, n, len(group), keyLen, seqKey); err != nil {
		return err
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(n+int64(len(group))))
	return b.Put(lw.logKey(account, logSize, 0), lw.sealValue(size[:]))
}

// idValue is an entry of the ids bucket: the ULID, and the timestamp of
// the event's key and its sequence.
type idValue struct {
	id    []byte // 16 bytes
	value []byte // 16 bytes
}

// appendTiles appends count items of width bytes, item(i) for sequence n+i,
// to the account's tiles of the given kind, putting each tile once.
func (lw *logWriter) appendTiles(b *bolt.Bucket, account string, kind byte, n int64, count, width int, item func(i int) []byte) error {
	for i := 0; i < count; {
		t := n / tileWidth
		key := lw.logKey(account, kind, uint64(t))
		have := int(n % tileWidth)
		take := min(count-i, tileWidth-have)
		v := lw.arena.alloc(4 + (have+take)*width)
		content := v[4:4]
		if have != 0 {
			old := b.Get(key)
			if old == nil {
				return corruptf("tile %c%d of account %s is missing", kind, t, quoteAccount(account))
			}
			c, err := tileItems(old, width, "tile "+string(kind)+itoa(t)+" of account "+quoteAccount(account))
			if err != nil {
				return err
			}
			if len(c)/width != have {
				return corruptf("tile %c%d of account %s holds %d items, want %d", kind, t, quoteAccount(account), len(c)/width, have)
			}
			content = append(content, c...)
		}
		for j := range take {
			content = append(content, item(i+j)...)
		}
		binary.BigEndian.PutUint32(v, crc32.Checksum(content, castagnoli))
		if err := b.Put(key, v); err != nil {
			return err
		}
		i += take
		n += int64(take)
	}
	return nil
}

// logKey returns logKey(account, kind, n) in the arena.
func (lw *logWriter) logKey(account string, kind byte, n uint64) []byte {
	size := len(account) + 2
	if kind != logSize {
		size += 8
	}
	k := lw.arena.alloc(size)[:0]
	k = append(k, account...)
	k = append(k, 0, kind)
	if kind != logSize {
		k = binary.BigEndian.AppendUint64(k, n)
	}
	return k
}

// sealValue returns sealValue(b) in the arena.
func (lw *logWriter) sealValue(b []byte) []byte {
	v := lw.arena.alloc(4 + len(b))
	binary.BigEndian.PutUint32(v, crc32.Checksum(b, castagnoli))
	copy(v[4:], b)
	return v
}

// arena hands out byte slices from large chunks, so that the many small
// keys and values of a commit cost few allocations. A slice stays valid
// until reset; a chunk is never moved, only replaced by a new one when
// full.
type arena struct {
	chunk []byte
}

// arenaChunk is the size of an arena's chunks, unless a slice needs more.
const arenaChunk = 64 << 10

// alloc returns n bytes of the arena, with capacity n.
func (a *arena) alloc(n int) []byte {
	if cap(a.chunk)-len(a.chunk) < n {
		a.chunk = make([]byte, 0, max(n, arenaChunk))
	}
	l := len(a.chunk)
	a.chunk = a.chunk[:l+n]
	return a.chunk[l : l+n : l+n]
}

// reset makes the current chunk's bytes available again, and lets the
// older chunks go.
func (a *arena) reset() { a.chunk = a.chunk[:0] }

// prunedEvent is an event that Prune deletes: its account and sequence.
type prunedEvent struct {
	account string
	seq     int64
}

// pruneLog marks the sequences of pruned events as pruned in their
// sequence tiles (their slots become zero), in the pruning transaction. The
// leaves and tree hashes stay.
func pruneLog(tx *bolt.Tx, pruned []prunedEvent) error {
	b := tx.Bucket(bucketLog)
	tiles := make(map[string][]byte) // by key, the tile's items being changed
	var order []string
	for _, p := range pruned {
		key := string(logKey(p.account, logSeqs, uint64(p.seq/tileWidth)))
		items, ok := tiles[key]
		if !ok {
			v := b.Get([]byte(key))
			if v == nil {
				return corruptf("the sequence tile of sequence %d of account %s is missing", p.seq, quoteAccount(p.account))
			}
			c, err := tileItems(v, keyLen, "a sequence tile of account "+quoteAccount(p.account))
			if err != nil {
				return err
			}
			items = bytes.Clone(c)
			tiles[key] = items
			order = append(order, key)
		}
		off := int(p.seq%tileWidth) * keyLen
		if off+keyLen > len(items) {
			return corruptf("sequence %d of account %s is beyond its tile", p.seq, quoteAccount(p.account))
		}
		clear(items[off : off+keyLen])
	}
	for _, key := range order {
		if err := b.Put([]byte(key), sealValue(tiles[key])); err != nil {
			return err
		}
	}
	return nil
}

// idSeq returns the sequence that the ids bucket holds for an event key.
func idSeq(ids *bolt.Bucket, key []byte) (int64, error) {
	v := ids.Get(key[8:])
	if len(v) != 16 || !bytes.Equal(v[:8], key[:8]) {
		return 0, corruptf("the id entry of event %x does not give its sequence", key)
	}
	return int64(binary.BigEndian.Uint64(v[8:])), nil
}

// TreeSize returns the size of the account's tree, as [auditevents.Ledger]
// describes.
func (s *Store) TreeSize(ctx context.Context, account string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if s.noLog {
		return 0, ErrNoLog
	}
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		n, err = treeSize(tx.Bucket(bucketLog), account)
		return err
	})
	return n, err
}

// ReadHashes returns the account's stored tree hashes at the given indexes,
// as [auditevents.Ledger] describes. The hashes of levels 1 to 3, which the
// file does not keep, are computed from the leaves.
func (s *Store) ReadHashes(ctx context.Context, account string, indexes []int64) ([]tlog.Hash, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.noLog {
		return nil, ErrNoLog
	}
	var out []tlog.Hash
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketLog)
		n, err := treeSize(b, account)
		if err != nil {
			return err
		}
		if err := auditevents.CheckIndexes(n, indexes); err != nil {
			return err
		}
		out, err = newTreeReader(b, account).ReadHashes(indexes)
		return err
	})
	return out, err
}

// Lookup returns the entry of the event with the given ID, as
// [auditevents.Ledger] describes.
func (s *Store) Lookup(ctx context.Context, id string) (auditevents.Entry, error) {
	if err := ctx.Err(); err != nil {
		return auditevents.Entry{}, err
	}
	if s.noLog {
		return auditevents.Entry{}, ErrNoLog
	}
	u, err := ulid.ParseStrict(strings.ToUpper(id))
	if err != nil {
		return auditevents.Entry{}, auditevents.ErrNotFound
	}
	var entry auditevents.Entry
	err = s.view(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIDs).Get(u[:])
		if v == nil {
			return auditevents.ErrNotFound
		}
		key := append(bytes.Clone(v[:min(8, len(v))]), u[:]...)
		seq, err := idSeq(tx.Bucket(bucketIDs), key)
		if err != nil {
			return err
		}
		value := tx.Bucket(bucketEvents).Get(key)
		if value == nil {
			return corruptf("event %s is in the ids bucket but not stored", u)
		}
		entry.Seq = seq
		entry.Event, err = s.codec.decode(key, value)
		return err
	})
	return entry, err
}

// Accounts streams the accounts that have a non-empty tree, in ascending
// order, as [auditevents.Ledger] describes.
func (s *Store) Accounts(ctx context.Context) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if s.noLog {
			yield("", ErrNoLog)
			return
		}
		var after []byte // the last account yielded, then 0 and 0xff
		for {
			if err := ctx.Err(); err != nil {
				yield("", err)
				return
			}
			var account string
			var found bool
			err := s.view(func(tx *bolt.Tx) error {
				c := tx.Bucket(bucketLog).Cursor()
				var k []byte
				if after == nil {
					k, _ = c.First()
				} else {
					k, _ = c.Seek(after)
				}
				if k == nil {
					return nil
				}
				i := bytes.IndexByte(k, 0)
				if i < 0 {
					return corruptf("log key %x has no account", k)
				}
				account, found = string(k[:i]), true
				after = append(append(k[:i:i], 0, 0xff), 0xff)
				return nil
			})
			if err != nil {
				yield("", err)
				return
			}
			if !found || !yield(account, nil) {
				return
			}
		}
	}
}

// entriesChunk is how many sequences Entries reads in one read transaction.
const entriesChunk = 4096

// Entries streams the account's log in sequence order from sequence from,
// as [auditevents.Ledger] describes. It reads 4,096 sequences per read
// transaction, so appends commit meanwhile, and goes on with the sequences
// committed since. An event that no longer decodes yields an
// [*auditevents.EntryError] naming its sequence; a sequence whose event is
// gone without being pruned is skipped, so a verifier reports it removed.
func (s *Store) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		if s.noLog {
			yield(auditevents.Entry{}, ErrNoLog)
			return
		}
		var (
			next    = from
			pending auditevents.Entry // a pruned run not yet yielded
			buf     []auditevents.Entry
			first   = true
		)
		for {
			if err := ctx.Err(); err != nil {
				yield(auditevents.Entry{}, err)
				return
			}
			buf = buf[:0]
			var size int64
			var damaged error
			err := s.view(func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketLog)
				var err error
				if size, err = treeSize(b, account); err != nil {
					return err
				}
				if first {
					if err := auditevents.CheckFrom(size, from); err != nil {
						return err
					}
				}
				events := tx.Bucket(bucketEvents).Cursor()
				var last []byte // the cursor's key
				end := min(size, next+entriesChunk)
				var items []byte
				tile := int64(-1)
				for ; next < end; next++ {
					if t := next / tileWidth; t != tile {
						what := "sequence tile " + itoa(t) + " of account " + quoteAccount(account)
						v := b.Get(logKey(account, logSeqs, uint64(t)))
						if v == nil {
							return corruptf("%s is missing", what)
						}
						if items, err = tileItems(v, keyLen, what); err != nil {
							return err
						}
						tile = t
					}
					off := int(next%tileWidth) * keyLen
					if off+keyLen > len(items) {
						return corruptf("sequence %d of account %s is missing from its tile", next, quoteAccount(account))
					}
					key := items[off : off+keyLen]
					if isZero(key) {
						if pending.Pruned == 0 {
							pending.Seq = next
						}
						pending.Pruned++
						continue
					}
					if pending.Pruned > 0 {
						buf = append(buf, pending)
						pending = auditevents.Entry{}
					}
					// Sequences mostly follow time, so the next event is
					// usually the cursor's next key: a step, not a seek.
					var k, v []byte
					if last != nil && bytes.Compare(key, last) > 0 {
						k, v = events.Next()
					}
					if k == nil || !bytes.Equal(k, key) {
						k, v = events.Seek(key)
					}
					last = k
					if k == nil || !bytes.Equal(k, key) {
						continue // gone without being pruned
					}
					e, err := s.codec.decode(k, v)
					if err != nil {
						damaged = &auditevents.EntryError{Seq: next, Err: err}
						return nil
					}
					buf = append(buf, auditevents.Entry{Seq: next, Event: e})
				}
				return nil
			})
			first = false
			if err != nil {
				yield(auditevents.Entry{}, err)
				return
			}
			for _, e := range buf {
				if !yield(e, nil) {
					return
				}
			}
			if damaged != nil {
				yield(auditevents.Entry{}, damaged)
				return
			}
			if next >= size {
				if pending.Pruned > 0 {
					yield(pending, nil)
				}
				return
			}
		}
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// checkLog checks the log bucket against the events, for Store.Check: each
// account's sequence and leaf tiles cover exactly its tree size, each
// sequence that is not pruned names a stored event whose ids entry gives
// that sequence, and every stored event is named by one. It does not
// recompute the tree: auditevents.Verify does, against a signed checkpoint.
func checkLog(ctx context.Context, tx *bolt.Tx) error {
	b := tx.Bucket(bucketLog)
	if b == nil {
		return nil // a file of format 2, kept without the log (Options.NoLog)
	}
	events := tx.Bucket(bucketEvents)
	ids := tx.Bucket(bucketIDs)
	var named int64 // sequences that name an event
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := bytes.IndexByte(k, 0)
		if i < 0 || i+2 > len(k) {
			return corruptf("log key %x is malformed", k)
		}
		account, kind := string(k[:i]), k[i+1]
		if kind != logSize {
			continue // the tiles are checked from the size, below
		}
		content, err := openValue(v, "the tree size of account "+quoteAccount(account))
		if err != nil {
			return err
		}
		if len(content) != 8 {
			return corruptf("the tree size of account %s is malformed", quoteAccount(account))
		}
		size := int64(binary.BigEndian.Uint64(content))
		for _, t := range []struct {
			kind  byte
			width int
		}{{logLeaves, 32}, {logSeqs, keyLen}} {
			for seq := int64(0); seq < size; seq += tileWidth {
				what := "tile " + string(t.kind) + itoa(seq/tileWidth) + " of account " + quoteAccount(account)
				tv := b.Get(logKey(account, t.kind, uint64(seq/tileWidth)))
				if tv == nil {
					return corruptf("%s is missing", what)
				}
				items, err := tileItems(tv, t.width, what)
				if err != nil {
					return err
				}
				if want := min(size-seq, tileWidth); int64(len(items)/t.width) != want {
					return corruptf("%s holds %d items, want %d", what, len(items)/t.width, want)
				}
				if t.kind != logSeqs {
					continue
				}
				for j := 0; j < len(items); j += keyLen {
					key := items[j : j+keyLen]
					if isZero(key) {
						continue // pruned
					}
					s := seq + int64(j/keyLen)
					if events.Get(key) == nil {
						return corruptf("sequence %d of account %s names event %x, which is not stored", s, quoteAccount(account), key)
					}
					got, err := idSeq(ids, key)
					if err != nil {
						return err
					}
					if got != s {
						return corruptf("event %x is sequence %d of account %s, but its ids entry says %d", key, s, quoteAccount(account), got)
					}
					named++
				}
			}
			if v := b.Get(logKey(account, t.kind, uint64((size+tileWidth-1)/tileWidth))); v != nil {
				return corruptf("account %s has a tile %c beyond its tree size %d", quoteAccount(account), t.kind, size)
			}
		}
	}
	stored, err := eventCount(tx)
	if err != nil {
		return err
	}
	if named != stored {
		return corruptf("the logs name %d events, but %d are stored: some events have no sequence", named, stored)
	}
	return nil
}
