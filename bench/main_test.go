package main

import (
	"bytes"
	"context"
	"io"
	"iter"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

// lossy wraps a store to return a wrong result: it skips the second event
// of every query, or swaps the first two.
type lossy struct {
	Subject
	swap bool
}

func (l lossy) Query(ctx context.Context, q auditevents.Query) iter.Seq2[auditevents.AuditEvent, error] {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		var held *auditevents.AuditEvent
		i := 0
		for e, err := range l.Subject.Query(ctx, q) {
			i++
			switch {
			case err != nil:
				yield(e, err)
				return
			case i == 1 && l.swap:
				held = &e
				continue
			case i == 2 && !l.swap:
				continue
			}
			if !yield(e, nil) {
				return
			}
			if held != nil {
				if !yield(*held, nil) {
					return
				}
				held = nil
			}
		}
		if held != nil {
			yield(*held, nil)
		}
	}
}

func TestRunChecksEveryStoreAgainstMemstore(t *testing.T) {
	sqlite := sqliteAdapters()[0]
	wrap := func(swap bool) Adapter {
		ad := sqlite
		ad.Name = "wrong"
		ad.Open = func(dir string) (Subject, error) {
			s, err := sqlite.Open(dir)
			if err != nil {
				return nil, err
			}
			return lossy{s, swap}, nil
		}
		return ad
	}
	tests := []struct {
		name     string
		store    Adapter
		wantCode int
		wantOut  string
	}{
		{"a correct store passes", sqlite, 0, "## (d) Query: one user over all time"},
		{"a store that loses an event fails", wrap(false), 1, "result differs from memstore's"},
		{"a store that misorders events fails", wrap(true), 1, "result differs from memstore's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags([]string{"-quick", "-n", "500", "-reps", "1", "-export-memory=false", "-dir", t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			code, _ := run(context.Background(), cfg, []Adapter{memstoreAdapter(), tt.store}, &out, &errOut)
			if got, want := code, tt.wantCode; got != want {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, want, errOut.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output lacks %q:\n%s", tt.wantOut, out.String())
			}
		})
	}
}

// Every cold read runs an untimed round on each store before its timed
// rounds: the first cold read of a file in a while is the slowest.
func TestColdReadsBeginWithAnUntimedRound(t *testing.T) {
	cfg, err := parseFlags([]string{"-quick", "-n", "300", "-reps", "1", "-cold-reps", "2", "-export-memory=false", "-dir", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sqlite := sqliteAdapters()[0]
	var out, errOut bytes.Buffer
	if code, err := run(context.Background(), cfg, []Adapter{memstoreAdapter(), sqlite}, &out, &errOut); code != 0 {
		t.Fatalf("exit status %d (%v); stderr:\n%s", code, err, errOut.String())
	}
	var rounds []string
	for line := range strings.Lines(errOut.String()) {
		if _, after, ok := strings.Cut(line, sqlite.Name+" query:user cold "); ok {
			rounds = append(rounds, strings.TrimSpace(strings.SplitN(after, ":", 2)[0]))
		}
	}
	if want := []string{"untimed round", "round 1", "round 2"}; !slices.Equal(rounds, want) {
		t.Errorf("cold rounds of %s's one-user query: %q, want %q", sqlite.Name, rounds, want)
	}
}

// The untimed cold round reads cold, as a timed one does, and adds
// nothing to the read's result.
func TestUntimedColdRoundIsNotRecorded(t *testing.T) {
	ctx := context.Background()
	sqlite := sqliteAdapters()[0]
	dir := t.TempDir()
	s, err := sqlite.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := newGenerator(1).Events(200)
	if err := s.Append(ctx, data...); err != nil {
		t.Fatal(err)
	}
	op := readOps(data)[0]
	n, _, err := op.run(ctx, s, false)
	if err != nil {
		t.Fatal(err)
	}
	b := &bench{errOut: io.Discard, stillCached: map[string]int64{}, cachedOf: map[string]int64{}}
	sub := &subject{ad: sqlite, s: s, dir: dir}
	defer func() { sub.s.Close() }()
	r := &result{store: sqlite.Name, op: op.id, phase: "cold", rows: n}
	if err := b.coldRound(ctx, sub, op, r, warmUp); err != nil {
		t.Fatalf("untimed cold round: %v", err)
	}
	if len(r.times) != 0 || len(r.readBytes) != 0 {
		t.Errorf("after the untimed round the result holds %d times and %d read sizes, want none", len(r.times), len(r.readBytes))
	}
	if err := b.coldRound(ctx, sub, op, r, 0); err != nil {
		t.Fatalf("cold round 1: %v", err)
	}
	if len(r.times) != 1 || len(r.readBytes) != 1 {
		t.Errorf("after round 1 the result holds %d times and %d read sizes, want 1 each", len(r.times), len(r.readBytes))
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantN   int
		wantErr string
	}{
		{"default", nil, 1_000_000, ""},
		{"quick", []string{"-quick"}, 3000, ""},
		{"quick with an explicit n", []string{"-quick", "-n", "500"}, 500, ""},
		{"too few events", []string{"-n", "10"}, 0, "at least 100"},
		{"profile without a file", []string{"-profile", "boltstore/export/cold"}, 0, "go together"},
		{"malformed profile pattern", []string{"-cpuprofile", "x", "-profile", "["}, 0, "syntax error"},
		{"stray argument", []string{"1000"}, 0, "every setting is a flag"},
		{"fewer most rounds than fewest", []string{"-reps", "5", "-max-reps", "4"}, 0, "-max-reps 4: must be at least -reps (5)"},
		{"no write rounds", []string{"-write-reps", "0"}, 0, "-write-reps"},
		{"negative min time", []string{"-min-time", "-1s"}, 0, "must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseFlags(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got, want := cfg.n, tt.wantN; got != want {
				t.Errorf("n = %d, want %d", got, want)
			}
		})
	}
}

func TestSelectAdapters(t *testing.T) {
	all := adapters()
	got, err := selectAdapters(all, "sqlite-modernc")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ad := range got {
		names = append(names, ad.Name)
	}
	if want := []string{"memstore", "sqlite-modernc FULL", "sqlite-modernc NORMAL"}; !slices.Equal(names, want) {
		t.Errorf("selected %q, want %q", names, want)
	}
	if _, err := selectAdapters(all, "nosuchstore"); err == nil || !strings.Contains(err.Error(), `no store "nosuchstore"`) {
		t.Errorf("error %v, want one naming the unknown store", err)
	}
}

func TestRatioComparesRatesWhateverTheRows(t *testing.T) {
	one := &result{rows: 1000, times: sample{time.Second}}
	many := &result{rows: 3200, times: sample{time.Second}}
	slow := &result{rows: 1000, times: sample{4 * time.Second}}
	tests := []struct {
		name      string
		r, best   *result
		rate      bool
		wantRatio float64
	}{
		{"more rows in the same time is a higher rate", many, one, true, 3.2},
		{"the same rows in four times the time is a quarter of the rate", slow, one, true, 0.25},
		{"latency ratio", slow, one, false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, want := ratio(tt.r, tt.best, tt.rate), tt.wantRatio; math.Abs(got-want) > 1e-9 {
				t.Errorf("ratio = %v, want %v", got, want)
			}
		})
	}
}

func TestRatioPairsRounds(t *testing.T) {
	secs := func(s ...float64) sample {
		out := make(sample, len(s))
		for i, v := range s {
			out[i] = time.Duration(v * float64(time.Second))
		}
		return out
	}
	// The machine slowed in rounds 3 to 5, both stores alike: each round
	// the store took half the baseline's time.
	store := &result{op: "q", phase: "warm", rows: 10, times: secs(1, 1, 4, 4, 4)}
	base := &result{op: "q", phase: "warm", rows: 10, times: secs(2, 2, 8, 8, 8)}
	if got := ratio(store, base, false); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("paired latency ratio = %v, want 0.5, every round's", got)
	}
	if lo, hi := spread(store, base, false); math.Abs(lo-0.5) > 1e-9 || math.Abs(hi-0.5) > 1e-9 {
		t.Errorf("paired spread = %v–%v, want 0.5–0.5", lo, hi)
	}
	if got := ratio(store, base, true); math.Abs(got-2) > 1e-9 {
		t.Errorf("paired rate ratio = %v, want 2", got)
	}
	// A slow spell that tripled every time began in round 3, after the
	// store's turn and before the baseline's: a ratio of medians would read
	// 1 s against 6 s, 0.17; the rounds say 0.5 in all but the one that the
	// spell split.
	store.times = secs(1, 1, 1, 3, 3)
	base.times = secs(2, 2, 6, 6, 6)
	if got := ratio(store, base, false); math.Abs(got-0.5) > 1e-9 {
		t.Errorf("paired latency ratio = %v, want 0.5, the median of 0.5, 0.5, 0.17, 0.5, 0.5", got)
	}
	if lo, hi := spread(store, base, false); math.Abs(lo-1.0/6) > 1e-9 || math.Abs(hi-0.5) > 1e-9 {
		t.Errorf("paired spread = %v–%v, want 0.17–0.5", lo, hi)
	}
	// Reads with different round counts cannot be paired: the ratio is of
	// the medians, the spread from the extremes.
	short := &result{op: "q", phase: "cold", rows: 10, times: secs(1, 2, 4)}
	long := &result{op: "q", phase: "cold", rows: 10, times: secs(0.1, 0.2)}
	if got := ratio(long, short, false); math.Abs(got-0.15/2) > 1e-9 {
		t.Errorf("unpaired latency ratio = %v, want the ratio of medians %v", got, 0.15/2)
	}
	if lo, hi := spread(long, short, false); math.Abs(lo-0.1/4) > 1e-9 || math.Abs(hi-0.2) > 1e-9 {
		t.Errorf("unpaired spread = %v–%v, want 0.025–0.2 (0.1 s against 4 s, 0.2 s against 1 s)", lo, hi)
	}
}

// Writes compare rates over all rounds, so that work a store does every so
// many events counts as often as it happened, wherever it fell.
func TestRatioOfWritesIsOverAllRounds(t *testing.T) {
	ms := func(v ...int) sample {
		out := make(sample, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	// The store takes 100 ms a round, and 300 ms in the rounds where it
	// does its periodic work: 4 of 10, so the median of its rounds would
	// be one mode or the other as noise moved the rounds about.
	store := &result{op: "append-64", phase: "write", rows: 1000, times: ms(100, 300, 100, 100, 300, 100, 300, 100, 100, 300)}
	base := &result{op: "append-64", phase: "write", rows: 1000, times: ms(2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000, 2000)}
	if got, want := store.sustained(), 10000/1.8; math.Abs(got-want) > 1e-6 {
		t.Errorf("sustained = %v, want %v: 10,000 events in 1.8 s", got, want)
	}
	if got, want := ratio(store, base, true), (10000/1.8)/(10000/20.0); math.Abs(got-want) > 1e-9 {
		t.Errorf("write ratio = %v, want %v, of the rates over all rounds", got, want)
	}
	if lo, hi := spread(store, base, true); math.Abs(lo-2000.0/300) > 1e-9 || math.Abs(hi-20) > 1e-9 {
		t.Errorf("write spread = %v–%v, want 6.67–20, the rounds' ratios", lo, hi)
	}
	// 64 goroutines against one: different rows a round and different
	// rounds, still rates over all rounds.
	one := &result{op: "append-1", phase: "write", rows: 100, times: ms(1000, 2000, 4000)}
	many := &result{op: "append-64", phase: "write", rows: 100, times: ms(100, 200)}
	if got, want := ratio(many, one, true), (200/0.3)/(300/7.0); math.Abs(got-want) > 1e-9 {
		t.Errorf("64 against one = %v, want %v", got, want)
	}
	if lo, hi := spread(many, one, true); math.Abs(lo-5) > 1e-9 || math.Abs(hi-40) > 1e-9 {
		t.Errorf("64 against one spread = %v–%v, want 5–40 (0.2 s against 1 s, 0.1 s against 4 s)", lo, hi)
	}
}

func TestFmtRatioKeepsSmallRatiosApart(t *testing.T) {
	for _, tt := range []struct {
		r    float64
		want string
	}{{123.4, "123x"}, {15.04, "15.0x"}, {0.354, "0.35x"}, {0.1, "0.10x"}, {0.0349, "0.035x"}, {0.0441, "0.044x"}, {math.NaN(), "–"}} {
		if got := fmtRatio(tt.r); got != tt.want {
			t.Errorf("fmtRatio(%v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestPackedEventsRoundTrip(t *testing.T) {
	data := newGenerator(3).Events(1000)
	data = append(data, auditevents.AuditEvent{ID: data[0].ID, Timestamp: data[0].Timestamp, User: "u", Action: "a", ResourceKind: auditevents.KindAgent,
		Description: "commas, \"quotes\"\r\nand line breaks", Configuration: "x:y:3"})
	data = append(data, auditevents.AuditEvent{ID: data[1].ID, Timestamp: data[1].Timestamp, User: "u", Action: "a", ResourceKind: auditevents.KindAgent,
		IPAddress: "2001:db8::1", UserAgent: "curl/8.5.0", RequestID: "req-1", Metadata: map[string]string{"region": "eu", "empty": ""}})
	p := pack(data)
	if got, want := p.Len(), len(data); got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	got := p.decode(0, 400, nil)
	got = p.decode(400, p.Len(), got)
	if !slices.EqualFunc(got, data, sameEvent) {
		t.Error("decoded events differ from the packed ones")
	}
}

// sameEvent reports whether a and b hold the same fields, timestamps
// compared as instants.
func sameEvent(a, b auditevents.AuditEvent) bool {
	return a.Equal(&b)
}
