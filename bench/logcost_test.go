package main

import (
	"math"
	"testing"
	"time"
)

// The log's cost compares a store with its adapter without the log: the
// ratio of their rates over all rounds, the median CPU per event of each and the
// median of the rounds' differences, and the bytes per event of each.
func TestLogCosts(t *testing.T) {
	ads := []Adapter{{Name: "s"}, {Name: "s no-log", LogOf: "s"}, {Name: "other"}}
	b := &bench{used: map[string]int64{"s": 3000, "s no-log": 2000}}
	ms := time.Millisecond
	b.add(&result{store: "s", op: opLogCost, phase: "write", rows: 1000,
		times: sample{2 * time.Second, 4 * time.Second, 3 * time.Second}, cpu: sample{3 * ms, 5 * ms, 4 * ms}})
	b.add(&result{store: "s no-log", op: opLogCost, phase: "write", rows: 1000,
		times: sample{time.Second, 2 * time.Second, 3 * time.Second}, cpu: sample{1 * ms, 4 * ms, 2 * ms}})
	costs := b.logCosts(ads)
	if len(costs) != 1 {
		t.Fatalf("logCosts returned %d costs, want 1", len(costs))
	}
	c := costs[0]
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	for _, tt := range []struct {
		name      string
		got, want float64
	}{
		{"ratio", ratio(c.with, c.without, true), 6.0 / 9}, // 3,000 events in 9 s and in 6 s; the rounds' median would be 0.5
		{"cpu with", c.cpuWith, 4},
		{"cpu without", c.cpuWithout, 2},
		{"the log's cpu", c.cpu, 2}, // rounds' differences 2, 1, 2 ms
		{"bytes with", c.bytesWith, 3},
		{"bytes without", c.bytesWithout, 2},
		{"the log's bytes", c.bytes, 1},
	} {
		if !near(tt.got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if c.store != "s" {
		t.Errorf("store = %q, want s", c.store)
	}
}
