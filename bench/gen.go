package main

import "github.com/auditevents/auditevents/store/storetest"

// The benchmark's data is storetest's Generator's, the data every store of
// this module is tested and benchmarked with; these names are its shape, as
// the report states it.
var genAccounts = storetest.GeneratorAccounts()

const (
	genUsers          = storetest.GeneratorUsers
	genConfigurations = storetest.GeneratorConfigurations
)

// newGenerator returns the generator of the benchmark's events for seed.
func newGenerator(seed uint64) *storetest.Generator { return storetest.NewGenerator(seed) }
