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
