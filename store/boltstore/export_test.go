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
