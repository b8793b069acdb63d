package main

import (
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/auditevents/auditevents/store/boltstore"
)

type boltSubject struct {
	*boltstore.Store
	path string
}

func (s boltSubject) Files() []string { return []string{s.path} }

func boltstoreAdapter() Adapter {
	return Adapter{
		Name:       "boltstore",
		Durable:    true,
		Persistent: true,
		Note:       "one bbolt file, default options (every commit synced; concurrent appends share commits)",
		Open:       openBolt(nil),
		Used:       boltUsed,
	}
}

// boltstoreNoLogAdapter is boltstore without the verifiable log
// (Options.NoLog), the baseline of what the log costs: the same code and
// the same file but for the log. It only writes; its reads would be
// boltstore's.
func boltstoreNoLogAdapter() Adapter {
	return Adapter{
		Name:       "boltstore no-log",
		Durable:    true,
		Persistent: true,
		WritesOnly: true,
		LogOf:      "boltstore",
		Note:       "boltstore with Options.NoLog: no sequences, no Merkle tree (the current format marked as without the log; events keep every field); the baseline of the log's cost",
		Open:       openBolt(&boltstore.Options{NoLog: true}),
		Used:       boltUsed,
	}
}

func openBolt(o *boltstore.Options) func(dir string) (Subject, error) {
	return func(dir string) (Subject, error) {
		path := filepath.Join(dir, "events.db")
		s, err := boltstore.Open(path, o)
		if err != nil {
			return nil, err
		}
		return boltSubject{s, path}, nil
	}
}

// boltUsed returns the end of the last page in use of the store's bbolt
// file, which bbolt reports as the size of a transaction's view.
func boltUsed(dir string) (int64, error) {
	db, err := bolt.Open(filepath.Join(dir, "events.db"), 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var n int64
	err = db.View(func(tx *bolt.Tx) error {
		n = tx.Size()
		return nil
	})
	return n, err
}
