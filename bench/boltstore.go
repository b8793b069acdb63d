package main

import (
	"path/filepath"

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
		Open: func(dir string) (Subject, error) {
			path := filepath.Join(dir, "events.db")
			s, err := boltstore.Open(path, nil)
			if err != nil {
				return nil, err
			}
			return boltSubject{s, path}, nil
		},
	}
}
