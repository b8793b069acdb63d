package boltstore

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/storetest"
)

// The benchmarks of the actor filters run on a store of benchEvents()
// events of storetest's Generator (seed 1) that all came from requests:
// each has a request ID, shared by the one to three events of its request,
// an address of 2,000 clients in 40 IPv4 networks (one in ten an IPv6
// address of 200), and a user agent of 20. Built once and kept in the
// temporary directory.
//
//	go test ./store/boltstore -run '^$' -bench ActorQuery -benchtime 5x

// actorEvents returns the events of the actor benchmarks.
func actorEvents(n int) []auditevents.AuditEvent {
	return storetest.NewRequests(1).Fill(storetest.NewGenerator(1).Events(n))
}

var actorBench struct {
	once   sync.Once
	path   string
	events []auditevents.AuditEvent
	err    error
}

// actorBenchStore returns the path of the actor benchmark store, building
// it on first use, and its events.
func actorBenchStore(b *testing.B) (string, []auditevents.AuditEvent) {
	b.Helper()
	actorBench.once.Do(func() {
		n := benchEvents()
		actorBench.events = actorEvents(n)
		actorBench.path = filepath.Join(os.TempDir(), fmt.Sprintf("auditevents-boltstore-bench-v%d-actor-%d.db", formatVersion, n))
		if _, err := os.Stat(actorBench.path); err == nil {
			return
		}
		tmp := actorBench.path + ".building"
		os.Remove(tmp)
		s, err := Open(tmp, &Options{NoSync: true})
		if err != nil {
			actorBench.err = err
			return
		}
		for i := 0; i < n; i += 1000 {
			if actorBench.err = s.Append(context.Background(), actorBench.events[i:min(i+1000, n)]...); actorBench.err != nil {
				s.Close()
				return
			}
		}
		if actorBench.err = s.Close(); actorBench.err == nil {
			actorBench.err = os.Rename(tmp, actorBench.path)
		}
	})
	if actorBench.err != nil {
		b.Fatalf("building the actor benchmark store: %v", actorBench.err)
	}
	return actorBench.path, actorBench.events
}

// BenchmarkActorQuery measures the actor filters on the actor benchmark
// store, warm and cold, through the actor indexes ("index") and through a
// scan of the events bucket ("scan", the plan without them): a request ID,
// one address, and a /24 network.
func BenchmarkActorQuery(b *testing.B) {
	path, events := actorBenchStore(b)
	mid := events[len(events)/2]
	addr := netip.MustParseAddr(mid.IPAddress)
	net24 := netip.PrefixFrom(netip.MustParseAddr("10.1.12.0"), 24)
	shapes := []struct {
		name string
		q    auditevents.Query
	}{
		{"request-id", auditevents.Query{RequestID: mid.RequestID}},
		{"ip-address", auditevents.Query{IPAddress: netip.PrefixFrom(addr, addr.BitLen())}},
		{"ip-network-24", auditevents.Query{IPAddress: net24}},
	}
	for _, sh := range shapes {
		for _, scan := range []bool{false, true} {
			for _, cold := range []bool{false, true} {
				name := sh.name + "/index"
				if scan {
					name = sh.name + "/scan"
				}
				if cold {
					name += "/cold"
				} else {
					name += "/warm"
				}
				b.Run(name, func(b *testing.B) { benchQuery(b, path, &Options{scanActor: scan}, sh.q, cold) })
			}
		}
	}
}

// BenchmarkActorSize reports what the actor fields cost the file, per
// event: the actor benchmark store against the store of the same events
// without actor fields (the query benchmarks' store).
func BenchmarkActorSize(b *testing.B) {
	path, _ := actorBenchStore(b)
	plain, _ := benchStore(b)
	for range b.N {
	}
	for _, f := range []struct{ name, path string }{{"with", path}, {"without", plain}} {
		hw, err := fileHighWater(f.path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(hw)/float64(benchEvents()), "bytes/event-"+f.name)
	}
}

// fileHighWater returns how much of the store file at path is in use.
func fileHighWater(path string) (int64, error) {
	s, err := Open(path, &Options{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	defer s.Close()
	return HighWater(s)
}

// BenchmarkActorAppend measures what the actor fields and their indexes
// cost an append: the same events, from the actor benchmarks' generator,
// appended with their actor fields and without, in batches of 1,000 and
// one by one from 64 goroutines, without syncing (the syncs, the same for
// both, would hide the difference). Run both in one invocation, so that
// their ratio is measured on the same machine state.
func BenchmarkActorAppend(b *testing.B) {
	ctx := context.Background()
	for _, shape := range []string{"batch1000", "concurrent64"} {
		for _, with := range []bool{false, true} {
			name := shape + "/without"
			if with {
				name = shape + "/with"
			}
			b.Run(name, func(b *testing.B) {
				n := b.N
				if shape == "batch1000" {
					n *= 1000
				}
				events := actorEvents(n)
				if !with {
					for i := range events {
						events[i].IPAddress, events[i].UserAgent, events[i].RequestID = "", "", ""
					}
				}
				s := openBench(b, &Options{NoSync: true})
				b.ReportAllocs()
				b.ResetTimer()
				if shape == "batch1000" {
					for i := range b.N {
						if err := s.Append(ctx, events[i*1000:(i+1)*1000]...); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					appendConcurrently(b, s, events, 64)
				}
				reportRate(b, n)
				b.StopTimer()
				hw, err := HighWater(s)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(hw)/float64(n), "file-bytes/event")
			})
		}
	}
}
