package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/auditevents/auditevents"
)

// oldestUpgradable is the oldest format that Open upgrades in place: format
// 2, the format before the verifiable log. Formats 3, before the positions
// bucket, 4, before the actor fields, 5, which kept every leaf and each
// event's sequence in the ids bucket, 6, whose log keys put the kind
// before the number, and 7, whose hot bucket kept an entry per index and
// event, are upgraded too.
const oldestUpgradable = 2

// logKeysGrouped is the format whose log keys are grouped by tile
// (FORMAT.md, "log"); the log of an older one is keyed by kind first.
const logKeysGrouped = 7

// bucketSince returns the format version that added the bucket: Open of an
// older file that it upgrades does not expect it.
func bucketSince(name []byte) uint32 {
	switch string(name) {
	case string(bucketLog):
		return 3
	case string(bucketPositions):
		return 4
	case string(bucketByRequestID), string(bucketByIPAddress):
		return 5
	case string(bucketHot):
		return 7
	}
	return 1
}

// upgradeChunk is how many events the upgrade reads at a time.
const upgradeChunk = 8192

// upgrade turns a file of format 2 to 7, or a file without the log that
// Open builds the log of, into the current format with the log, in one
// transaction (FORMAT.md, "Upgrading versions 2 to 7"). From formats 3 to 6
// it first moves the log's keys to the current layout (rekeyLog); from
// every format it writes the hot bucket anew (rebuildHot); a file of format
// 6 or 7 needs nothing else. Before format 6, it creates the buckets
// the file lacks, empty: the log, the positions bucket (position.go) and
// the actor indexes, since no event of a format before 5 has actor fields;
// it gives every event's value its sequence and leaf check, keeping the
// rest of the value (a format 5 value's actor section included), and its
// ids entry the timestamp of its key alone; from format 2, or without the
// log, it gives the events their sequences in their stored order (by
// timestamp, then ID, as the events bucket holds them) and builds each
// account's tree; from formats 3 to 5 it keeps the sequences and drops the
// leaf tiles that the events give again. Then it writes the new version
// and drops the mark of a file without the log. A crash during the upgrade
// leaves the file as it was.
func (s *Store) upgrade(c *codec) error {
	err := guard(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, name := range allBuckets {
				if since := bucketSince(name); since > bucketSince(bucketLog) && c.upgrade < since {
					if _, err := tx.CreateBucketIfNotExists(name); err != nil { // a file without the log has the later buckets
						return err
					}
				}
			}
			if c.upgrade < bucketSince(bucketLog) {
				if _, err := tx.CreateBucket(bucketLog); err != nil {
					return err
				}
			}
			if err := tx.Bucket(bucketMeta).Delete(metaNoLog); err != nil {
				return err
			}
			if c.upgrade >= bucketSince(bucketLog) && c.upgrade < logKeysGrouped {
				if err := rekeyLog(tx); err != nil {
					return err
				}
			}
			if err := rebuildHot(tx); err != nil {
				return err
			}
			if c.upgrade >= valuesLogged {
				// Formats 6 and 7 differ from this one in their log keys and hot entries only.
				return tx.Bucket(bucketMeta).Put(metaFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
			}
			u := upgrader{tx: tx, c: c, hasLog: c.upgrade >= bucketSince(bucketLog), next: make(map[string]int64), matched: make(map[string]int)}
			if err := u.events(); err != nil {
				return err
			}
			if u.hasLog {
				if err := u.dropLeaves(); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(metaFormat, binary.BigEndian.AppendUint32(nil, formatVersion))
		})
	})
	if err != nil {
		return err
	}
	c.upgrade, c.noLog = 0, false
	return nil
}

// rekeyLog moves every key of the log bucket from the layout of formats 3
// to 6 (the account, a 0 byte, the kind, and but for the size the number)
// to the current one (logKey), keeping the values. The two layouts cannot
// be taken for each other: after the 0 byte an older key has its kind, a
// letter, where the current one has its group, whose first byte is at most
// 7 or, for the size, 0xff. It reads every entry, then writes the bucket
// anew in the new key order, so that each page is written once and full.
func rekeyLog(tx *bolt.Tx) error {
	type entry struct{ key, value []byte }
	var entries []entry
	err := tx.Bucket(bucketLog).ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(k, 0)
		if i < 0 || len(k) < i+2 {
			return corruptf("log key %x is malformed", k)
		}
		kind := k[i+1]
		var n uint64
		switch {
		case kind == logSize && len(k) == i+2:
		case (kind == logLeaves || kind == logNode || kind == logSeqs) && len(k) == i+10:
			n = binary.BigEndian.Uint64(k[i+2:])
		default:
			return corruptf("log key %x is malformed", k)
		}
		entries = append(entries, entry{logKey(string(k[:i]), kind, n), bytes.Clone(v)})
		return nil
	})
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b entry) int { return bytes.Compare(a.key, b.key) })
	if err := tx.DeleteBucket(bucketLog); err != nil {
		return err
	}
	b, err := tx.CreateBucket(bucketLog)
	if err != nil {
		return err
	}
	b.FillPercent = fillPercent
	for _, e := range entries {
		if err := b.Put(e.key, e.value); err != nil {
			return err
		}
	}
	return nil
}

// hotByEventSince is the format whose hot bucket holds one entry per hot
// event (index.go).
const hotByEventSince = 8

// rebuildHot writes the hot bucket of a file of an older format in the
// current layout, one entry per hot event (index.go), from its indexes'
// hot classes: at the start of each index's bucket before format 7, in the
// hot bucket under each index's kind byte in format 7. Each event's entry
// in the user index, which files every event, gives the tags of its
// tagged fields; its entries in the other indexes tell which of them file
// it. It reads the format from the file, not from what Open makes of it
// (which takes a file without the log for format 2): call it before the
// new version is written.
func rebuildHot(tx *bolt.Tx) error {
	v := tx.Bucket(bucketMeta).Get(metaFormat)
	if len(v) != 4 {
		return nil // a new file
	}
	version := binary.BigEndian.Uint32(v)
	if version >= hotByEventSince {
		return nil
	}
	found := make(map[string]*hotTags) // by event key
	add := func(k indexKind, key, iv []byte) error {
		tag, ek := parseKey(k, key)
		if ek == nil {
			return corruptf("index %q has a malformed hot key %x", indexBuckets[k], key)
		}
		h := found[string(ek)]
		if h == nil {
			h = new(hotTags)
			found[string(ek)] = h
		}
		h.tag[k] = bytes.Clone(tag)
		if k != byUser {
			return nil
		}
		h.tags[tagUser] = h.tag[k]
		for _, f := range [...]taggedField{tagConfigName, tagAccount, tagConfiguration} {
			n := tagLen(iv)
			if n == 0 {
				return corruptf("the hot entry of event %x in index %q holds malformed tags %x", ek, indexBuckets[k], iv)
			}
			h.tags[f], iv = bytes.Clone(iv[:n]), iv[n:]
		}
		return nil
	}
	if version < bucketSince(bucketHot) {
		for k := range numIndexes {
			index := tx.Bucket(indexBuckets[k])
			if index == nil {
				continue // the actor indexes of a file before format 5
			}
			var keys [][]byte
			c := index.Cursor()
			for key, v := c.First(); key != nil && key[0] == classHot; key, v = c.Next() {
				if err := add(k, key, v); err != nil {
					return err
				}
				keys = append(keys, bytes.Clone(key))
			}
			for _, key := range keys {
				if err := index.Delete(key); err != nil {
					return err
				}
			}
		}
	} else {
		err := tx.Bucket(bucketHot).ForEach(func(key, v []byte) error {
			if len(key) < 2 || key[0] >= byte(numIndexes) {
				return corruptf("the hot bucket has entry %x of no index", key)
			}
			return add(indexKind(key[0]), key[1:], v)
		})
		if err != nil {
			return err
		}
	}
	if tx.Bucket(bucketHot) != nil {
		if err := tx.DeleteBucket(bucketHot); err != nil {
			return err
		}
	}
	hot, err := tx.CreateBucket(bucketHot)
	if err != nil {
		return err
	}
	hot.FillPercent = fillPercent
	keys := make([]string, 0, len(found))
	for ek := range found {
		keys = append(keys, ek)
	}
	slices.Sort(keys)
	for _, ek := range keys {
		h := found[ek]
		if h.tag[byUser] == nil {
			return corruptf("event %x has hot index entries but none in index %q", ek, indexBuckets[byUser])
		}
		v := appendHotValue(nil, &h.tags, h.tag[byConfiguration] != nil, h.tag[byRequestID], h.tag[byIPAddress])
		if err := hot.Put([]byte(ek), v); err != nil {
			return err
		}
	}
	return nil
}

// upgrader holds the state of one upgrade.
type upgrader struct {
	tx      *bolt.Tx
	c       *codec // of the older file: its values have no log prefix
	hasLog  bool   // the file has the log (format 3, 4 or 5), its keys moved to the current layout
	lw      logWriter
	next    map[string]int64 // format 2: each account's next sequence
	matched map[string]int   // formats 3 to 5: by leaf tile key, the events that give its leaves
	tileKey string           // the leaf tile in leaves
	hasher  leafHasher
	leaves  []byte
}

// events rewrites every event's value and ids entry, upgradeChunk events
// at a time, and from format 2 appends them to their accounts' logs.
func (u *upgrader) events() error {
	eb, ids := u.tx.Bucket(bucketEvents), u.tx.Bucket(bucketIDs)
	eb.FillPercent, ids.FillPercent = fillPercent, fillPercent
	var after []byte // the last key rewritten
	for {
		var keys, values [][]byte
		cur := eb.Cursor()
		k, v := cur.First()
		if after != nil {
			k, v = cur.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = cur.Next()
			}
		}
		for ; k != nil && len(keys) < upgradeChunk; k, v = cur.Next() {
			keys, values = append(keys, bytes.Clone(k)), append(values, bytes.Clone(v))
		}
		if len(keys) == 0 {
			return nil
		}
		staged := make([]logEvent, 0, len(keys))
		events := make([]auditevents.AuditEvent, len(keys))
		for i, k := range keys {
			e, err := u.c.decode(k, values[i])
			if err != nil {
				return err
			}
			events[i] = e
			lr, err := u.ref(k, &events[i])
			if err != nil {
				return err
			}
			if err := eb.Put(k, withLogPrefix(values[i], lr)); err != nil {
				return err
			}
			if u.hasLog {
				if err := ids.Put(k[8:], k[:8]); err != nil {
					return err
				}
			} else {
				staged = append(staged, logEvent{e: &events[i], key: k, seq: lr.seq, leaf: lr.leaf})
			}
		}
		if err := u.lw.appendLog(u.tx, staged); err != nil { // never reset: the transaction holds what it puts
			return err
		}
		after = keys[len(keys)-1]
	}
}

// ref returns the sequence, leaf and leaf check of the event e with key k.
// From format 2, or without the log, the event gets its account's next
// sequence; from formats 3 to 5 its sequence is in its ids entry, and an
// event whose leaf is not the one the file keeps counts against dropping
// its tile's leaves, so that an event changed before the upgrade stays
// named after it.
func (u *upgrader) ref(k []byte, e *auditevents.AuditEvent) (logRef, error) {
	if !u.hasLog {
		lr := logRef{seq: u.next[e.Account]}
		u.next[e.Account]++
		lr.leaf, lr.check = u.hasher.leaf(lr.seq, e)
		return lr, nil
	}
	v := u.tx.Bucket(bucketIDs).Get(k[8:])
	if len(v) != 16 || !bytes.Equal(v[:8], k[:8]) {
		return logRef{}, corruptf("the id entry of event %x does not give its sequence", k)
	}
	lr := logRef{seq: int64(binary.BigEndian.Uint64(v[8:]))}
	if lr.seq < 0 {
		return logRef{}, corruptf("the id entry of event %x gives sequence %d", k, lr.seq)
	}
	lr.leaf, lr.check = u.hasher.leaf(lr.seq, e)
	key := string(logKey(e.Account, logLeaves, uint64(lr.seq/tileWidth)))
	if key != u.tileKey {
		items, kept, err := leafTile(u.tx.Bucket(bucketLog), e.Account, lr.seq/tileWidth)
		if err != nil {
			return logRef{}, err
		}
		if !kept {
			return logRef{}, corruptf("the leaf tile of sequence %d of account %s is missing", lr.seq, quoteAccount(e.Account))
		}
		u.tileKey, u.leaves = key, items
	}
	off := int(lr.seq%tileWidth) * tlog.HashSize
	if off+tlog.HashSize > len(u.leaves) {
		return logRef{}, corruptf("sequence %d of account %s is beyond its leaf tile", lr.seq, quoteAccount(e.Account))
	}
	if tlog.Hash(u.leaves[off:off+tlog.HashSize]) == lr.leaf {
		u.matched[key]++ // else the tile keeps its leaves, which name the changed event
	}
	return lr, nil
}

// dropLeaves deletes the leaf tiles of complete tiles whose 16 events give
// their leaves again: the tiles without a pruned or changed event.
func (u *upgrader) dropLeaves() error {
	b := u.tx.Bucket(bucketLog)
	var drop [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		account, kind, n, ok := parseLogKey(k)
		if !ok || kind != logLeaves {
			continue
		}
		t := int64(n)
		size, err := treeSize(b, account)
		if err != nil {
			return err
		}
		if t < size/tileWidth && u.matched[string(k)] == tileWidth {
			drop = append(drop, bytes.Clone(k))
		}
	}
	for _, k := range drop {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("dropping leaf tile %x: %w", k, err)
		}
	}
	return nil
}
