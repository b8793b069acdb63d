package boltstore

import (
	"encoding/binary"
	"hash/crc32"
	"strings"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// The dictionary bucket maps a 4-byte big-endian code to the field's
// number (1 byte), a CRC-32C of the field's number and the string, and the
// string.

// The fields whose values the dictionary codes. Users, accounts and
// configurations repeat across many events; so do resource names, though
// they may also be unique, so they get a share of the codes of their own.
const (
	fieldAccount = iota
	fieldUser
	fieldResourceName
	fieldConfiguration
	fieldConfigName  // the name part of configurations, for the index
	fieldUserAgent   // user agents: a few clients make most requests
	fieldMetadataKey // the keys of metadata; their values are not coded
	numDictFields
)

// The dictionary is bounded so that its memory stays small whatever the
// events hold: at most maxDictEntries codes per field, for strings of at
// most maxDictString bytes (maxDictUserAgent for user agents, which
// browsers make longer than 128 bytes). Other values are stored as they
// are.
const (
	maxDictEntries   = 1 << 15
	maxDictString    = 128
	maxDictUserAgent = 256
)

// maxDictLen returns the longest string of field that takes a code.
func maxDictLen(field int) int {
	if field == fieldUserAgent {
		return maxDictUserAgent
	}
	return maxDictString
}

// dict maps repeated strings to small codes. Its invariants, which
// TestDictAgainstModel checks against a plain map:
//
//   - codes are 1, 2, 3, … in the order strings were first added, across
//     all fields, and the bucket holds exactly the committed ones;
//   - a string has at most one code per field, and a code never changes
//     meaning or goes away once its transaction commits;
//   - the codes a failed transaction added are forgotten, and given again
//     to the next strings added;
//   - a field holds at most limit (maxDictEntries) codes, for strings of at most
//     maxDictLen bytes; code returns 0 for any other string, which is
//     then stored as it is;
//   - only the writer adds codes; readers use the published snapshot,
//     which grows only, so a snapshot taken inside a read transaction knows
//     every code that transaction can see.
type dict struct {
	names   []string                         // names[i] has code i+1; writer only
	fields  []byte                           // fields[i] is the field of names[i]
	codes   [numDictFields]map[string]uint32 // per field: string -> code; writer only
	pending int                              // how many names the current transaction added
	snap    atomic.Pointer[[]string]
	mu      sync.RWMutex // guards codes against lookup
	limit   int          // codes per field: maxDictEntries, less in tests
}

func newDict() *dict {
	d := &dict{limit: maxDictEntries}
	for f := range d.codes {
		d.codes[f] = make(map[string]uint32)
	}
	d.publish()
	return d
}

func (d *dict) publish() {
	names := d.names
	d.snap.Store(&names)
}

// load reads the dictionary bucket. It reads the bucket twice, first to
// size the tables, so that loading a large dictionary allocates little.
func (d *dict) load(b *bolt.Bucket) error {
	var counts [numDictFields]int
	n, size := 0, 0
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		n++
		if len(k) != 4 || binary.BigEndian.Uint32(k) != uint32(n) || len(v) < 5 || v[0] >= numDictFields ||
			binary.BigEndian.Uint32(v[1:]) != dictSum(v[0], v[5:]) {
			return corruptf("dictionary entry %x is damaged", k)
		}
		counts[v[0]]++
		size += len(v) - 5
	}
	for f := range d.codes {
		d.codes[f] = make(map[string]uint32, counts[f])
	}
	d.names = make([]string, 0, n)
	d.fields = make([]byte, 0, n)
	var all strings.Builder // one allocation for every string
	all.Grow(size)
	for k, v := c.First(); k != nil; k, v = c.Next() {
		all.Write(v[5:])
	}
	if all.Len() != size {
		return corruptf("the dictionary changed while it was read")
	}
	strs, off := all.String(), 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		s := strs[off : off+len(v)-5]
		off += len(v) - 5
		d.names = append(d.names, s)
		d.fields = append(d.fields, v[0])
		d.codes[v[0]][s] = uint32(len(d.names))
	}
	d.publish()
	return nil
}

func (d *dict) add(field int, s string) uint32 {
	d.names = append(d.names, s)
	d.fields = append(d.fields, byte(field))
	code := uint32(len(d.names))
	d.mu.Lock()
	d.codes[field][s] = code
	d.mu.Unlock()
	d.pending++
	return code
}

// code returns the code of s in field, adding it when there is room; 0
// means s is stored as it is.
func (d *dict) code(field int, s string) uint32 {
	if c, ok := d.codes[field][s]; ok {
		return c
	}
	if len(s) > maxDictLen(field) || len(d.codes[field]) >= d.limit {
		return 0
	}
	return d.add(field, s)
}

// lookup returns the code of s in field, or 0; any goroutine may call it.
func (d *dict) lookup(field int, s string) uint32 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.codes[field][s]
}

// flush writes the codes added by the current transaction to b and
// publishes them, before the transaction commits.
func (d *dict) flush(b *bolt.Bucket) error {
	b.FillPercent = fillPercent
	for i := len(d.names) - d.pending; i < len(d.names); i++ {
		var k [4]byte
		binary.BigEndian.PutUint32(k[:], uint32(i+1))
		v := binary.BigEndian.AppendUint32([]byte{d.fields[i]}, dictSum(d.fields[i], []byte(d.names[i])))
		v = append(v, d.names[i]...)
		if err := b.Put(k[:], v); err != nil {
			return err
		}
	}
	d.publish()
	return nil
}

// endTx ends the current transaction: when it failed, the codes it added
// are forgotten.
func (d *dict) endTx(committed bool) {
	if !committed {
		n := len(d.names) - d.pending
		d.mu.Lock()
		for i := n; i < len(d.names); i++ {
			delete(d.codes[d.fields[i]], d.names[i])
		}
		d.mu.Unlock()
		d.names, d.fields = d.names[:n], d.fields[:n]
		d.publish()
	}
	d.pending = 0
}

// name returns the string with code c in the published snapshot.
func (d *dict) name(c uint64) (string, bool) {
	names := *d.snap.Load()
	if c == 0 || c > uint64(len(names)) {
		return "", false
	}
	return names[c-1], true
}

// dictSum is the checksum of a dictionary entry.
func dictSum(field byte, s []byte) uint32 {
	return crc32.Update(crc32.Checksum([]byte{field}, castagnoli), castagnoli, s)
}
