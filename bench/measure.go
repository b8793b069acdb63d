package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// sample is the durations of the repetitions of one measurement.
type sample []time.Duration

// median returns the median duration; the mean of the middle two for an
// even count.
func (s sample) median() time.Duration { return median(s) }

// median returns the median of xs, the mean of the middle two for an even
// count, or 0 for none. It does not change xs.
func median[T time.Duration | float64](xs []T) T {
	c := slices.Clone(xs)
	slices.Sort(c)
	if len(c) == 0 {
		return 0
	}
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s sample) min() time.Duration { return slices.Min(s) }
func (s sample) max() time.Duration { return slices.Max(s) }

// result is one measurement of one store: a workload in one phase.
type result struct {
	store string
	op    string // the operation's id, such as "append-1" or "query:day"
	phase string // "write", "warm" or "cold"
	rows  int    // events per repetition
	times sample
	cpu   sample // the process's CPU time of each repetition, for writes
	note  string // why there is no sample, when there is none
	// readBytes is what each cold repetition read from disk, from
	// getrusage's ru_inblock; -1 where it cannot be measured.
	readBytes []int64
}

// rate returns events per second at duration d.
func (r *result) rate(d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(r.rows) / d.Seconds()
}

// sustained returns the rate over all rounds: every round's rows over the
// rounds' summed time. Work that a store does once every so many events
// (boltstore seals its recent index entries every 8,192 events, SQLite
// checkpoints its write-ahead log every 1,000 pages) lands in some rounds
// and not in others: a median counts it in or out depending on where it
// fell, the sum counts it as often as it happened. Write rounds are
// counted, so it happens as often in every run.
func (r *result) sustained() float64 {
	var total time.Duration
	for _, d := range r.times {
		total += d
	}
	if total <= 0 {
		return 0
	}
	return float64(r.rows*len(r.times)) / total.Seconds()
}

// syncProbes is how many synced writes a probe of the disk makes.
const syncProbes = 32

// probeSync measures the disk's rate of synced writes just before a round
// of the write workload op: syncProbes writes of 4 KiB over the same block
// of a file beside the stores', each followed by fdatasync. The rates of
// the rounds are reported with op's table, so that a ratio can be read
// against how fast the disk was while it was measured.
func (b *bench) probeSync(op string) {
	path := filepath.Join(b.root, "sync-probe")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		b.note(fmt.Sprintf("the disk's fdatasync rate was not measured: %v", err))
		return
	}
	defer os.Remove(path)
	defer f.Close()
	block := make([]byte, 4096)
	start := time.Now()
	for i := range syncProbes {
		block[0] = byte(i)
		if _, err := f.WriteAt(block, 0); err != nil {
			b.note(fmt.Sprintf("the disk's fdatasync rate was not measured: %v", err))
			return
		}
		if err := datasync(f); err != nil {
			b.note(fmt.Sprintf("the disk's fdatasync rate was not measured: %v", err))
			return
		}
	}
	b.syncRates[op] = append(b.syncRates[op], syncProbes/time.Since(start).Seconds())
}

// spread returns the lowest and the highest ratio of r to best over the
// rounds. When they were measured in the same interleaved rounds, it is
// round by round: the stores ran each round one after the other, so a
// round's ratio compares them under the same conditions. Otherwise it is
// the worst of r against the best of best and the reverse. It returns NaNs
// when either is missing.
func spread(r, best *result, rate bool) (lo, hi float64) {
	if r == nil || best == nil || len(r.times) == 0 || len(best.times) == 0 {
		return math.NaN(), math.NaN()
	}
	if !paired(r, best) {
		if rate {
			return r.rate(r.times.max()) / best.rate(best.times.min()), r.rate(r.times.min()) / best.rate(best.times.max())
		}
		return r.times.min().Seconds() / best.times.max().Seconds(), r.times.max().Seconds() / best.times.min().Seconds()
	}
	rs := roundRatios(r, best, rate)
	return slices.Min(rs), slices.Max(rs)
}
