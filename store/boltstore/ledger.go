package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/oklog/ulid/v2"
	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditevents/auditevents"
)

// The verifiable log of each account lives in the log bucket (FORMAT.md,
// "log"). Its keys are the account, a 0 byte (no account holds one), the
// key's group (a big-endian uint64: the tile it belongs with), a kind byte
// and, for a tree node, its stored hash index (a big-endian uint64). The
// group puts what one append writes to an account's log (its last tiles,
// the nodes they complete and the size) next to each other, on one page.
var bucketLog = []byte("log")

// sizeGroup is the group of the size key: after every tile.
const sizeGroup = math.MaxUint64

// Kinds of log keys.
const (
	logLeaves byte = 'l' // a leaf tile: the leaves of 16 sequences, where the events cannot give them
	logNode   byte = 'n' // a stored tree hash of level 4 or more, by stored hash index
	logSeqs   byte = 'q' // a sequence tile: the event keys of 16 sequences
	logSize   byte = 's' // the tree size
)

const (
	// tileWidth is how many sequences a leaf tile and a sequence tile
	// hold: a complete subtree of level 4 or less lies in one tile.
	tileWidth = 16
	// storedLevel is the lowest level above the leaves whose hashes are
	// stored; the hashes of levels 1 to 3 are computed from a tile's
	// leaves when read, and the leaves of a complete tile, unless kept,
	// from its events.
	storedLevel = 4
)

var _ auditevents.Ledger = (*Store)(nil)

// logKey returns the key of the given kind and number in an account's log:
// for a tile its tile number, for a node its stored hash index; the size
// has none.
func logKey(account string, kind byte, n uint64) []byte {
	return appendLogKey(make([]byte, 0, logKeyLen(account, kind)), account, kind, n)
}

// logKeyLen returns the length of the log keys of the kind in the account.
func logKeyLen(account string, kind byte) int {
	if kind == logNode {
		return len(account) + 18
	}
	return len(account) + 10
}

// appendLogKey appends logKey(account, kind, n) to k.
func appendLogKey(k []byte, account string, kind byte, n uint64) []byte {
	k = append(k, account...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, logGroup(kind, n))
	k = append(k, kind)
	if kind == logNode {
		k = binary.BigEndian.AppendUint64(k, n)
	}
	return k
}

// logGroup returns the group of the log key of the kind and number: a
// tile's number; for a node, the tile of the last leaf it covers, which
// the append that completes that tile writes with it; for the size,
// sizeGroup.
func logGroup(kind byte, n uint64) uint64 {
	switch kind {
	case logSize:
		return sizeGroup
	case logNode:
		level, i := tlog.SplitStoredHashIndex(int64(n))
		if level < storedLevel {
			return uint64(i) // never stored; a group all the same
		}
		return uint64(i+1)<<(level-storedLevel) - 1
	}
	return n
}

// logKindName names a kind of log key in errors.
func logKindName(kind byte) string {
	switch kind {
	case logLeaves:
		return "leaf tile"
	case logSeqs:
		return "sequence tile"
	case logNode:
		return "tree hash"
	}
	return "size"
}

// parseLogKey returns the account, kind and number of log key k (its tile,
// or for a node its stored hash index), or ok false when k is not a log key
// this version writes.
func parseLogKey(k []byte) (account string, kind byte, n uint64, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) < i+10 {
		return "", 0, 0, false
	}
	group, kind := binary.BigEndian.Uint64(k[i+1:]), k[i+9]
	switch {
	case kind == logNode && len(k) == i+18:
		n = binary.BigEndian.Uint64(k[i+10:])
	case kind == logSize && len(k) == i+10:
		n = 0
	case (kind == logLeaves || kind == logSeqs) && len(k) == i+10:
		n = group
	default:
		return "", 0, 0, false
	}
	if int64(n) < 0 || logGroup(kind, n) != group {
		return "", 0, 0, false
	}
	return string(k[:i]), kind, n, true
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

// treeReader reads an account's tree hashes in a transaction: it is the
// tlog.HashReader of TreeAppend, proofs and checkpoints. The leaves of a
// tile come from its leaf tile when the file keeps one; those of a
// complete tile without one are computed again from its events
// (FORMAT.md, "log"), when the reader has the events bucket.
type treeReader struct {
	b       *bolt.Bucket
	events  *bolt.Bucket // nil: leaves are read from leaf tiles only (appends)
	codec   *codec
	account string
	tile    int64 // the tile in leaves, or -1
	leaves  []tlog.Hash
	missing []error // per leaf of the tile: why it cannot be computed, or nil
	hasher  leafHasher
}

// newTreeReader returns a reader of the account's leaf tiles and nodes, for
// appends: they read the right edge of the tree, whose leaves the file
// keeps.
func newTreeReader(b *bolt.Bucket, account string) *treeReader {
	return &treeReader{b: b, account: account, tile: -1}
}

// newTreeReader returns a reader of the account's tree in tx that computes
// the leaves of complete tiles from their events.
func (s *Store) newTreeReader(tx *bolt.Tx, account string) *treeReader {
	return &treeReader{b: tx.Bucket(bucketLog), events: tx.Bucket(bucketEvents), codec: &s.codec, account: account, tile: -1}
}

// unavailablef returns an error wrapping ErrCorrupt and
// auditevents.ErrHashUnavailable.
func unavailablef(format string, args ...any) error {
	return fmt.Errorf("%w: %w: "+format, append([]any{ErrCorrupt, auditevents.ErrHashUnavailable}, args...)...)
}

// load reads the leaves of tile t.
func (r *treeReader) load(t int64) error {
	r.tile = -1
	r.leaves, r.missing = r.leaves[:0], r.missing[:0]
	what := "leaf tile " + itoa(t) + " of account " + quoteAccount(r.account)
	items, kept, err := leafTile(r.b, r.account, t)
	if err != nil {
		return err
	}
	if kept {
		if n := len(items) / tlog.HashSize; n < tileWidth {
			// Only the last, incomplete tile keeps fewer than 16
			// leaves: one for each of its sequences.
			keys, err := seqTile(r.b, r.account, t)
			if err != nil {
				return err
			}
			if len(keys)/keyLen != n {
				return corruptf("%s holds %d leaves for %d sequences", what, n, len(keys)/keyLen)
			}
		}
		for j := 0; j < len(items); j += tlog.HashSize {
			r.leaves = append(r.leaves, tlog.Hash(items[j:j+tlog.HashSize]))
			r.missing = append(r.missing, nil)
		}
		r.tile = t
		return nil
	}
	if r.events == nil {
		return corruptf("%s is missing", what)
	}
	keys, err := seqTile(r.b, r.account, t)
	if err != nil {
		return err
	}
	if len(keys) != tileWidth*keyLen {
		// Only a complete tile may lack its leaf tile.
		return corruptf("%s is missing", what)
	}
	node, err := readNode(r.b, r.account, tlog.StoredHashIndex(storedLevel, t))
	if err != nil {
		return err
	}
	complete := true
	for j := range int64(tileWidth) {
		leaf, err := r.recompute(t*tileWidth+j, keys[j*keyLen:(j+1)*keyLen])
		r.leaves = append(r.leaves, leaf)
		r.missing = append(r.missing, err)
		complete = complete && err == nil
	}
	if !complete && hasPruned(keys) && !holdsOther(keys, nil, r.events) {
		// A tile pruned whole while its leaves could not be computed
		// (pruneLog): its node of level 4 stands for it. (With an
		// event still stored, its leaf tile was deleted: corrupt.)
		for j := range r.missing {
			if r.missing[j] != nil {
				r.missing[j] = unavailablef("sequence %d of account %s was pruned with its tile, whose leaves are not kept", t*tileWidth+int64(j), quoteAccount(r.account))
			}
		}
	}
	if complete && subtreeHash(r.leaves) != node {
		err := unavailablef("the events of sequences %d to %d of account %s do not hash to the tree's stored hash of them", t*tileWidth, t*tileWidth+tileWidth-1, quoteAccount(r.account))
		for j := range r.missing {
			r.missing[j] = err
		}
	}
	r.tile = t
	return nil
}

// recompute returns the leaf of sequence seq of a complete tile, whose
// slot holds key: the leaf of the event with that key, checked against the
// sequence and leaf check of its value. An event that holds another
// sequence was moved there: when the slot of that sequence holds the event
// of this one (two sequences swapped), that event gives the leaf.
func (r *treeReader) recompute(seq int64, key []byte) (tlog.Hash, error) {
	got, leaf, err := r.entry(seq, key)
	if err != nil || got == seq {
		return leaf, err
	}
	keys, err := seqTile(r.b, r.account, got/tileWidth)
	if err != nil || int(got%tileWidth+1)*keyLen > len(keys) {
		return tlog.Hash{}, unavailablef("the event at sequence %d of account %s is that of sequence %d", seq, quoteAccount(r.account), got)
	}
	j := int(got % tileWidth)
	if back, leaf, err := r.entry(got, keys[j*keyLen:(j+1)*keyLen]); err == nil && back == seq {
		return leaf, nil
	}
	return tlog.Hash{}, unavailablef("the event of sequence %d of account %s is not stored at its sequence", seq, quoteAccount(r.account))
}

// entry reads the event with the given key, named in errors as that of
// sequence seq, and returns the sequence its value holds and its leaf at
// that sequence, checked against its leaf check.
func (r *treeReader) entry(seq int64, key []byte) (int64, tlog.Hash, error) {
	if isZero(key) {
		return 0, tlog.Hash{}, corruptf("sequence %d of account %s was pruned, but its leaf is not kept", seq, quoteAccount(r.account))
	}
	v := r.events.Get(key)
	if v == nil {
		return 0, tlog.Hash{}, unavailablef("the event of sequence %d of account %s is not stored", seq, quoteAccount(r.account))
	}
	e, got, check, err := r.codec.decodeEntry(key, v)
	if err != nil {
		return 0, tlog.Hash{}, unavailablef("sequence %d of account %s: %v", seq, quoteAccount(r.account), err)
	}
	leaf, want := r.hasher.leaf(got, &e)
	if want != check {
		return 0, tlog.Hash{}, unavailablef("the event at sequence %d of account %s does not match its leaf check", seq, quoteAccount(r.account))
	}
	return got, leaf, nil
}

// leafHasher computes leaves and leaf checks in a buffer it keeps, so that
// neither allocates. It is not safe for concurrent use.
type leafHasher struct {
	buf []byte
}

// leaf returns the leaf of event e at sequence seq, auditevents.LeafHash,
// and its leaf check: the CRC-32C of its leaf record
// (auditevents.AppendLeaf), whose SHA-256 after a 0 byte is the leaf (RFC
// 6962's record hash). The check is cheap to compute again: it is how a
// read finds, among the events of a tile, the one changed since its leaf
// was written.
func (h *leafHasher) leaf(seq int64, e *auditevents.AuditEvent) (tlog.Hash, [leafCheckLen]byte) {
	h.buf = auditevents.AppendLeaf(append(h.buf[:0], 0), seq, e)
	var check [leafCheckLen]byte
	binary.BigEndian.PutUint32(check[:], crc32.Checksum(h.buf[1:], castagnoli))
	return sha256.Sum256(h.buf), check
}

// check returns the leaf check of event e at sequence seq.
func (h *leafHasher) check(seq int64, e *auditevents.AuditEvent) [leafCheckLen]byte {
	h.buf = auditevents.AppendLeaf(h.buf[:0], seq, e)
	var check [leafCheckLen]byte
	binary.BigEndian.PutUint32(check[:], crc32.Checksum(h.buf, castagnoli))
	return check
}

// checkEntry checks that an event read at sequence seq holds that sequence
// and matches its leaf check.
func (h *leafHasher) checkEntry(seq, got int64, check [leafCheckLen]byte, e *auditevents.AuditEvent) error {
	if got != seq {
		return corruptf("the event at sequence %d is that of sequence %d", seq, got)
	}
	if h.check(seq, e) != check {
		return corruptf("the event at sequence %d does not match its leaf check", seq)
	}
	return nil
}

// subtreeHash returns the root of the complete subtree of the given leaves,
// whose number is a power of 2.
func subtreeHash(leaves []tlog.Hash) tlog.Hash {
	var buf [tileWidth]tlog.Hash
	hs := append(buf[:0], leaves...)
	for len(hs) > 1 {
		for j := 0; j < len(hs); j += 2 {
			hs[j/2] = tlog.NodeHash(hs[j], hs[j+1])
		}
		hs = hs[:len(hs)/2]
	}
	return hs[0]
}

// seqTile returns the event keys of an account's sequence tile t.
func seqTile(b *bolt.Bucket, account string, t int64) ([]byte, error) {
	what := "sequence tile " + itoa(t) + " of account " + quoteAccount(account)
	v := b.Get(logKey(account, logSeqs, uint64(t)))
	if v == nil {
		return nil, corruptf("%s is missing", what)
	}
	return tileItems(v, keyLen, what)
}

// leafTile returns the leaves of an account's leaf tile t, and whether the
// file keeps that tile: the leaves of a complete tile are kept only where
// its events cannot give them again (FORMAT.md, "log").
func leafTile(b *bolt.Bucket, account string, t int64) (leaves []byte, kept bool, err error) {
	v := b.Get(logKey(account, logLeaves, uint64(t)))
	if v == nil {
		return nil, false, nil
	}
	leaves, err = tileItems(v, tlog.HashSize, "leaf tile "+itoa(t)+" of account "+quoteAccount(account))
	return leaves, err == nil, err
}

// readNode returns the stored tree hash of level storedLevel or more at
// stored hash index x.
func readNode(b *bolt.Bucket, account string, x int64) (tlog.Hash, error) {
	what := "tree hash " + itoa(x) + " of account " + quoteAccount(account)
	v := b.Get(logKey(account, logNode, uint64(x)))
	if v == nil {
		return tlog.Hash{}, corruptf("%s is missing", what)
	}
	c, err := openValue(v, what)
	if err != nil {
		return tlog.Hash{}, err
	}
	if len(c) != tlog.HashSize {
		return tlog.Hash{}, corruptf("%s has %d bytes", what, len(c))
	}
	return tlog.Hash(c), nil
}

// leaf returns the leaf of sequence n.
func (r *treeReader) leaf(n int64) (tlog.Hash, error) {
	if t := n / tileWidth; t != r.tile {
		if err := r.load(t); err != nil {
			return tlog.Hash{}, err
		}
	}
	j := int(n % tileWidth)
	if j >= len(r.leaves) {
		return tlog.Hash{}, corruptf("leaf %d of account %s is missing", n, quoteAccount(r.account))
	}
	return r.leaves[j], r.missing[j]
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
			var buf [tileWidth]tlog.Hash
			hs := buf[:width]
			for j := range width {
				h, err := r.leaf(n*width + j)
				if err != nil {
					return nil, err
				}
				hs[j] = h
			}
			out[i] = subtreeHash(hs)
		default:
			h, err := readNode(r.b, r.account, x)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
	}
	return out, nil
}

// logEvent is an event staged for its account's log, in commit order, with
// the sequence and leaf it was given.
type logEvent struct {
	e    *auditevents.AuditEvent
	key  []byte // its event key
	seq  int64
	leaf tlog.Hash
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

// appendLog writes the staged events' part of their accounts' logs, in
// order: their tree hashes, sequence tiles and leaf tiles, and their entries
// in the ids bucket. Each event comes with the sequence and leaf that its
// value holds, its account's tree size and on. It is called by
// txWriter.flush and by the upgrade of a file of format 2, in the
// transaction that writes the events. Each tile and each account's size is
// put once per call, whatever the number of the account's events in it.
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
	if group[0].seq != n {
		return corruptf("account %s has tree size %d, but its next event was given sequence %d", quoteAccount(account), n, group[0].seq)
	}
	lw.leaves = slices.Grow(lw.leaves[:0], len(group))[:len(group)]
	for i, s := range group {
		lw.leaves[i] = s.leaf
		lw.ids = append(lw.ids, idValue{id: s.key[8:keyLen], value: s.key[:8]})
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
	if err := lw.appendTiles(b, account, n, group); err != nil {
		return err
	}
	var size [8]byte
	binary.BigEndian.PutUint64(size[:], uint64(n+int64(len(group))))
	return b.Put(lw.logKey(account, logSize, 0), lw.sealValue(size[:]))
}

// idValue is an entry of the ids bucket: the ULID, and the timestamp of
// the event's key.
type idValue struct {
	id    []byte // 16 bytes
	value []byte // 8 bytes
}

// appendTiles appends the keys and leaves of group, from sequence n on, to
// the account's sequence and leaf tiles, putting each tile once. A leaf
// tile that the group completes is deleted, since its leaves can be
// computed from its events, unless an event of the tile was pruned.
func (lw *logWriter) appendTiles(b *bolt.Bucket, account string, n int64, group []logEvent) error {
	for i := 0; i < len(group); {
		t := n / tileWidth
		have := int(n % tileWidth)
		take := min(len(group)-i, tileWidth-have)
		qkey, lkey := lw.logKey(account, logSeqs, uint64(t)), lw.logKey(account, logLeaves, uint64(t))
		qv := lw.arena.alloc(4 + (have+take)*keyLen)
		keys := qv[4:4]
		lv := lw.arena.alloc(4 + (have+take)*tlog.HashSize)
		leaves := lv[4:4]
		if have != 0 {
			for _, old := range []struct {
				key   []byte
				kind  byte
				width int
				dst   *[]byte
			}{{qkey, logSeqs, keyLen, &keys}, {lkey, logLeaves, tlog.HashSize, &leaves}} {
				what := "tile " + string(old.kind) + itoa(t) + " of account " + quoteAccount(account)
				v := b.Get(old.key)
				if v == nil {
					return corruptf("%s is missing", what)
				}
				c, err := tileItems(v, old.width, what)
				if err != nil {
					return err
				}
				if len(c)/old.width != have {
					return corruptf("%s holds %d items, want %d", what, len(c)/old.width, have)
				}
				*old.dst = append(*old.dst, c...)
			}
		}
		for _, e := range group[i : i+take] {
			keys = append(keys, e.key...)
			leaves = append(leaves, e.leaf[:]...)
		}
		binary.BigEndian.PutUint32(qv, crc32.Checksum(keys, castagnoli))
		if err := b.Put(qkey, qv); err != nil {
			return err
		}
		if have+take == tileWidth && !hasPruned(keys) {
			if have != 0 {
				if err := b.Delete(lkey); err != nil {
					return err
				}
			}
		} else {
			binary.BigEndian.PutUint32(lv, crc32.Checksum(leaves, castagnoli))
			if err := b.Put(lkey, lv); err != nil {
				return err
			}
		}
		i += take
		n += int64(take)
	}
	return nil
}

// hasPruned reports whether a sequence tile's keys hold a pruned slot.
func hasPruned(keys []byte) bool {
	for j := 0; j < len(keys); j += keyLen {
		if isZero(keys[j : j+keyLen]) {
			return true
		}
	}
	return false
}

// logKey returns logKey(account, kind, n) in the arena.
func (lw *logWriter) logKey(account string, kind byte, n uint64) []byte {
	return appendLogKey(lw.arena.alloc(logKeyLen(account, kind))[:0], account, kind, n)
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

// prunedEvent is an event that Prune deletes: its account, sequence and
// key.
type prunedEvent struct {
	account string
	seq     int64
	key     []byte
}

// tileRef names a tile of an account's log.
type tileRef struct {
	account string
	tile    int64
}

// damagedTile is a tile whose events Prune left, because their leaves
// cannot be computed again and some of its events are not pruned yet.
type damagedTile struct {
	tileRef
	err error
}

// pruneLog marks the sequences of pruned events as pruned in their
// sequence tiles (their slots become zero), in the pruning transaction,
// before the events are deleted. A tile whose leaves the file does not keep
// gets its leaf tile first, computed from its events, which are all still
// there: the leaves and tree hashes stay as they were.
//
// A tile whose events no longer give the leaves that the tree holds (an
// event changed or removed outside the store) cannot get its leaf tile. When
// this prune deletes every event of it still stored, it is pruned without
// one: its node of level 4, which the file keeps, stands for it, and the
// slot of an event removed outside the store keeps its key, so that a
// verifier still reports that event as removed. Otherwise its events are
// left as they are and the tile is returned in damaged, for Prune to
// report, and the caller deletes none of them: the other tiles are pruned.
func (s *Store) pruneLog(tx *bolt.Tx, pruned []prunedEvent) (damaged []damagedTile, err error) {
	b, events := tx.Bucket(bucketLog), tx.Bucket(bucketEvents)
	byTile := make(map[tileRef][]prunedEvent)
	var order []tileRef
	for _, p := range pruned {
		ref := tileRef{p.account, p.seq / tileWidth}
		if _, ok := byTile[ref]; !ok {
			order = append(order, ref)
		}
		byTile[ref] = append(byTile[ref], p)
	}
	for _, ref := range order {
		c, err := seqTile(b, ref.account, ref.tile)
		if err != nil {
			if errors.Is(err, ErrCorrupt) {
				damaged = append(damaged, damagedTile{ref, err})
				continue
			}
			return nil, err
		}
		items := bytes.Clone(c)
		group := byTile[ref]
		if lkey := logKey(ref.account, logLeaves, uint64(ref.tile)); b.Get(lkey) == nil {
			leaves, cause := s.tileLeaves(tx, ref)
			switch {
			case cause == nil:
				if err := b.Put(lkey, sealValue(leaves)); err != nil {
					return nil, err
				}
			case !errors.Is(cause, ErrCorrupt):
				return nil, cause
			case holdsOther(items, group, events):
				damaged = append(damaged, damagedTile{ref, cause})
				continue
			default:
				// Every event still stored is pruned: zero the slots
				// naming them, whatever their sequence says.
				for _, p := range group {
					for j := 0; j+keyLen <= len(items); j += keyLen {
						if bytes.Equal(items[j:j+keyLen], p.key) {
							clear(items[j : j+keyLen])
						}
					}
				}
				if err := b.Put(logKey(ref.account, logSeqs, uint64(ref.tile)), sealValue(items)); err != nil {
					return nil, err
				}
				continue
			}
		}
		for _, p := range group {
			off := int(p.seq%tileWidth) * keyLen
			if off+keyLen > len(items) {
				return nil, corruptf("sequence %d of account %s is beyond its tile", p.seq, quoteAccount(p.account))
			}
			clear(items[off : off+keyLen])
		}
		if err := b.Put(logKey(ref.account, logSeqs, uint64(ref.tile)), sealValue(items)); err != nil {
			return nil, err
		}
	}
	return damaged, nil
}

// tileLeaves returns the leaves of a tile that the file does not keep,
// computed from its events, or the error that says why they cannot be.
func (s *Store) tileLeaves(tx *bolt.Tx, ref tileRef) ([]byte, error) {
	r := s.newTreeReader(tx, ref.account)
	if err := r.load(ref.tile); err != nil {
		return nil, err
	}
	leaves := make([]byte, 0, tileWidth*tlog.HashSize)
	for j, h := range r.leaves {
		if r.missing[j] != nil {
			return nil, fmt.Errorf("keeping the leaves of the pruned events: %w", r.missing[j])
		}
		leaves = append(leaves, h[:]...)
	}
	return leaves, nil
}

// holdsOther reports whether a slot of the sequence tile items names an
// event that events holds and that group does not prune: with no group,
// whether the tile names any stored event at all.
func holdsOther(items []byte, group []prunedEvent, events *bolt.Bucket) bool {
	for j := 0; j+keyLen <= len(items); j += keyLen {
		key := items[j : j+keyLen]
		if isZero(key) || events.Get(key) == nil {
			continue
		}
		if !slices.ContainsFunc(group, func(p prunedEvent) bool { return bytes.Equal(p.key, key) }) {
			return true
		}
	}
	return false
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
// file does not keep, are computed from the leaves, and the leaves of a
// complete tile of 16 sequences from its events, unless the file keeps them
// (FORMAT.md, "log"). A leaf whose event was changed or removed outside the
// store returns an error wrapping [auditevents.ErrHashUnavailable] and
// [ErrCorrupt].
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
		out, err = s.newTreeReader(tx, account).ReadHashes(indexes)
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
		if len(v) != 8 {
			return corruptf("the id entry of event %s has %d bytes, want 8", u, len(v))
		}
		key := append(bytes.Clone(v), u[:]...)
		value := tx.Bucket(bucketEvents).Get(key)
		if value == nil {
			return corruptf("event %s is in the ids bucket but not stored", u)
		}
		e, seq, check, err := s.codec.decodeEntry(key, value)
		if err != nil {
			return err
		}
		// The event the log signed at seq: the one its sequence tile
		// names, matching its leaf check. Another event stored under the
		// same ID (at another time) is not it.
		b := tx.Bucket(bucketLog)
		keys, err := seqTile(b, e.Account, seq/tileWidth)
		if err != nil {
			return err
		}
		j := int(seq%tileWidth) * keyLen
		if j+keyLen > len(keys) || !bytes.Equal(keys[j:j+keyLen], key) {
			return corruptf("event %s holds sequence %d of account %s, which names another event", u, seq, quoteAccount(e.Account))
		}
		var h leafHasher
		if h.check(seq, &e) != check {
			return corruptf("event %s does not match the leaf check of its sequence %d", u, seq)
		}
		entry.Event, entry.Seq = e, seq
		return nil
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
				after = append(k[:i:i], 1) // after every key of the account
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
// committed since. An event that no longer decodes, or that does not match
// the leaf check its value holds (FORMAT.md, "events"), yields an
// [*auditevents.EntryError] naming its sequence; a sequence whose event is
// gone without being pruned is skipped, so a verifier reports it removed.
func (s *Store) Entries(ctx context.Context, account string, from int64) iter.Seq2[auditevents.Entry, error] {
	return func(yield func(auditevents.Entry, error) bool) {
		if s.noLog {
			yield(auditevents.Entry{}, ErrNoLog)
			return
		}
		var (
			hasher  leafHasher
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
				var items, kept []byte // the tile's keys and, when the file keeps them, its leaves
				tile := int64(-1)
				for ; next < end; next++ {
					if t := next / tileWidth; t != tile {
						if items, err = seqTile(b, account, t); err != nil {
							return err
						}
						if kept, _, err = leafTile(b, account, t); err != nil {
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
					// An event that holds another sequence was moved
					// here: it is yielded as it is, for a verifier to
					// say where it was signed. Each is checked against
					// the leaf that the file keeps, or else against its
					// leaf check.
					e, seq, check, err := s.codec.decodeEntry(k, v)
					if j := int(next%tileWidth) * tlog.HashSize; err == nil && seq == next && j+tlog.HashSize <= len(kept) {
						if leaf, _ := hasher.leaf(seq, &e); leaf != tlog.Hash(kept[j:j+tlog.HashSize]) {
							err = corruptf("the event at sequence %d does not match its kept leaf", next)
						}
					} else if err == nil && hasher.check(seq, &e) != check {
						err = corruptf("the event at sequence %d does not match its leaf check", next)
					}
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
// account's sequence tiles cover exactly its tree size; its leaf tiles are
// those FORMAT.md lists (the incomplete last tile's, and a complete tile's
// when one of its events was pruned or the file keeps its leaves for
// another reason), each full; each sequence that is not pruned names a
// stored event whose value holds that sequence and the leaf check of its
// leaf there (and of the kept leaf, when there is one); and every stored
// event is named by one. It does not recompute the tree above the leaves:
// auditevents.Verify does, against a signed checkpoint.
func (s *Store) checkLog(ctx context.Context, tx *bolt.Tx) error {
	b := tx.Bucket(bucketLog)
	if b == nil {
		return nil // a file of format 2, kept without the log (Options.NoLog)
	}
	events := tx.Bucket(bucketEvents)
	var hasher leafHasher
	var named int64 // sequences that name an event
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		account, kind, _, ok := parseLogKey(k)
		if !ok {
			return corruptf("log key %x is malformed", k)
		}
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
		for seq := int64(0); seq < size; seq += tileWidth {
			if err := ctx.Err(); err != nil {
				return err
			}
			t := seq / tileWidth
			want := min(size-seq, tileWidth)
			keys, err := seqTile(b, account, t)
			if err != nil {
				return err
			}
			if int64(len(keys)/keyLen) != want {
				return corruptf("sequence tile %d of account %s holds %d items, want %d", t, quoteAccount(account), len(keys)/keyLen, want)
			}
			what := "leaf tile " + itoa(t) + " of account " + quoteAccount(account)
			leaves, kept, err := leafTile(b, account, t)
			if err != nil {
				return err
			}
			if kept {
				if int64(len(leaves)/tlog.HashSize) != want {
					return corruptf("%s holds %d items, want %d", what, len(leaves)/tlog.HashSize, want)
				}
			} else if want < tileWidth {
				return corruptf("%s is missing", what)
			}
			// A complete tile with pruned events keeps its leaves, unless
			// all of them are pruned (its node of level 4 stands for it):
			// see pruneLog. Its slots are checked first, for a clearer
			// error about an event removed outside the store.
			missing := !kept && hasPruned(keys) && !isZero(keys)
			for j := int64(0); j < want; j++ {
				key := keys[j*keyLen : (j+1)*keyLen]
				if isZero(key) {
					continue // pruned
				}
				v := events.Get(key)
				if v == nil {
					return corruptf("sequence %d of account %s names event %x, which is not stored", seq+j, quoteAccount(account), key)
				}
				e, got, check, err := s.codec.decodeEntry(key, v)
				if err == nil {
					err = hasher.checkEntry(seq+j, got, check, &e)
				}
				if err != nil {
					return fmt.Errorf("account %s: %w", quoteAccount(account), err)
				}
				if kept {
					if leaf, _ := hasher.leaf(seq+j, &e); leaf != tlog.Hash(leaves[j*tlog.HashSize:(j+1)*tlog.HashSize]) {
						return corruptf("the event at sequence %d of account %s does not match its kept leaf", seq+j, quoteAccount(account))
					}
				}
				named++
			}
			if missing {
				return corruptf("%s is missing", what)
			}
		}
		// Any key from the first tile beyond the size on, but the size:
		// the nodes sort with tiles that their leaves complete.
		from := logKey(account, logSeqs, uint64((size+tileWidth-1)/tileWidth))
		from = from[:len(account)+9]
		if k, _ := b.Cursor().Seek(from); bytes.HasPrefix(k, from[:len(account)+1]) {
			if _, kind, n, ok := parseLogKey(k); ok && kind != logSize {
				return corruptf("account %s has %s %d beyond its tree size %d", quoteAccount(account), logKindName(kind), n, size)
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
