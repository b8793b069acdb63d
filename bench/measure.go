package main

import (
	"slices"
	"time"
)

// sample is the durations of the repetitions of one measurement.
type sample []time.Duration

func (s sample) sorted() sample {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// median returns the median duration; the mean of the middle two for an
// even count.
func (s sample) median() time.Duration {
	c := s.sorted()
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
