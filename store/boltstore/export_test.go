package boltstore

import bolt "go.etcd.io/bbolt"

// HighWater returns the end of the store's last page in use: how much of
// its file it uses, which the file's size, grown by bbolt in steps, hides.
func HighWater(s *Store) (int64, error) {
	var n int64
	err := s.view(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}

// SetSealAfter makes a store opened with o seal its hot index entries once
// more than n events have them, so that tests in other packages and the
// crash test's child process seal often.
func SetSealAfter(o *Options, n int) { o.sealAfter = n }

// CheckQueries checks that each query returns from s what a plain scan of
// events returns.
var CheckQueries = checkQueries

// Waiting returns how many accounts have a channel of Appended that no
// commit has closed yet.
func Waiting(s *Store) int {
	s.waiters.mu.Lock()
	defer s.waiters.mu.Unlock()
	return len(s.waiters.chans)
}

// HotToFormat rewrites the hot classes of tx, a file of the current format,
// in the layout of an older format version: before format 7 at the start
// of each index's bucket, in format 7 in the hot bucket under each index's
// kind byte. The caller writes the version.
func HotToFormat(tx *bolt.Tx, version int) error {
	type kv struct{ k, v []byte }
	var entries [numIndexes][]kv
	for k := range numIndexes {
		hc := newHotCursor(tx, k)
		for key, v := hc.below([]byte{classSealed}); key != nil; key, v = hc.prev() {
			if _, ek := parseKey(k, key); ek == nil {
				return corruptf("malformed hot entry %x", key)
			}
			entries[k] = append(entries[k], kv{key, append([]byte(nil), v...)})
		}
	}
	if err := tx.DeleteBucket(bucketHot); err != nil {
		return err
	}
	if version == 7 {
		hot, err := tx.CreateBucket(bucketHot)
		if err != nil {
			return err
		}
		for k := range numIndexes {
			for _, e := range entries[k] {
				if err := hot.Put(append([]byte{byte(k)}, e.k...), e.v); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for k := range numIndexes {
		for _, e := range entries[k] {
			if err := tx.Bucket(indexBuckets[k]).Put(e.k, e.v); err != nil {
				return err
			}
		}
	}
	return nil
}
