package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/auditevents/auditevents"
)

// opLogCost is the operation of the log's cost measurement in the results.
const opLogCost = "ingest-log"

// logCostChunk is how many events one store of a log-cost pair ingests
// before the other takes its turn.
const logCostChunk = 10_000

// measureLogCost measures what the verifiable log costs batched ingest, for
// each store that has an adapter without its log in this run (LogOf): in
// each of -ingest-reps rounds, both ingest every event, 1,000 per Append,
// into new stores, alternating every logCostChunk events, each first in
// turn, so that a slow second of the shared machine hits both alike. A
// round's time of a store is the sum of its Appends' wall time, and its CPU
// the sum of the process's CPU time over them; the generated events are
// decoded outside. The bytes in use are read after the last round.
func (b *bench) measureLogCost(ctx context.Context, subs []*subject) {
	for _, without := range subs {
		if without.ad.LogOf == "" || without.failed {
			continue
		}
		var with *subject
		for _, sub := range subs {
			if sub.ad.Name == without.ad.LogOf && !sub.failed {
				with = sub
			}
		}
		if with == nil {
			continue
		}
		for round := range b.cfg.ingestReps {
			if err := b.logCostRound(ctx, [2]Adapter{with.ad, without.ad}, round, round == b.cfg.ingestReps-1); err != nil {
				b.fail("%s: the log's cost: %v", with.ad.Name, err)
				break
			}
		}
	}
}

// logCostRound runs one round of measureLogCost for pair, the store with
// the log and the store without, and records each one's time and CPU. On
// the last round it records their bytes in use.
func (b *bench) logCostRound(ctx context.Context, pair [2]Adapter, round int, last bool) (err error) {
	fmt.Fprintf(b.errOut, "bench: %s  %s with and without the log, interleaved, round %d\n", time.Since(b.start).Round(time.Second), pair[0].Name, round+1)
	var stores [2]Subject
	var dirs [2]string
	defer func() {
		for k, s := range stores {
			if s != nil {
				s.Close()
			}
			if !b.cfg.keep {
				os.RemoveAll(dirs[k])
			}
		}
	}()
	for k, ad := range pair {
		dirs[k] = b.storeDir(ad) + "-logcost"
		if err := os.RemoveAll(dirs[k]); err != nil {
			return err
		}
		if err := os.MkdirAll(dirs[k], 0o755); err != nil {
			return err
		}
		if stores[k], err = ad.Open(dirs[k]); err != nil {
			return err
		}
	}
	const batch = 1000
	var wall, cpu [2]time.Duration
	events := make([]auditevents.AuditEvent, 0, batch)
	n := b.data.Len()
	for chunk, lo := 0, 0; lo < n; chunk++ {
		hi := min(lo+logCostChunk, n)
		for j := range 2 {
			k := (chunk + j) % 2
			for i := lo; i < hi; i += batch {
				events = b.data.decode(i, min(i+batch, hi), events[:0])
				start, startCPU := time.Now(), cpuTime()
				if err := stores[k].Append(ctx, events...); err != nil {
					return fmt.Errorf("%s: batched ingest: %w", pair[k].Name, err)
				}
				wall[k] += time.Since(start)
				cpu[k] += cpuTime() - startCPU
			}
		}
		lo = hi
	}
	fmt.Fprintf(b.errOut, "bench:     with the log %s (CPU %s), without %s (CPU %s)\n",
		wall[0].Round(time.Millisecond), cpu[0].Round(time.Millisecond), wall[1].Round(time.Millisecond), cpu[1].Round(time.Millisecond))
	for k, ad := range pair {
		r := b.find(ad.Name, opLogCost, "write")
		if r == nil {
			r = &result{store: ad.Name, op: opLogCost, phase: "write", rows: n}
			b.add(r)
		}
		r.times = append(r.times, wall[k])
		r.cpu = append(r.cpu, cpu[k])
	}
	if !last {
		return nil
	}
	for k, ad := range pair {
		if ad.Used == nil {
			continue
		}
		err := stores[k].Close()
		stores[k] = nil
		if err != nil {
			return fmt.Errorf("%s: closing: %w", ad.Name, err)
		}
		used, err := ad.Used(dirs[k])
		if err != nil {
			b.note(fmt.Sprintf("%s: bytes in use not measured: %v", ad.Name, err))
			continue
		}
		b.used[ad.Name] = used
	}
	return nil
}
