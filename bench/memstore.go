package main

import (
	"github.com/auditevents/auditevents/store/memstore"
)

type memSubject struct{ *memstore.Store }

func (memSubject) Files() []string { return nil }

func memstoreAdapter() Adapter {
	return Adapter{
		Name: "memstore",
		Note: "in memory, not durable; shown for scale, not compared with the targets",
		Open: func(string) (Subject, error) { return memSubject{memstore.New()}, nil },
	}
}
