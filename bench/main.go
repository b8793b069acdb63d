// Command bench measures the stores of auditevents against what a user would
// otherwise pick, an indexed SQLite table, in the same run on the same
// generated data, and prints each store's ratio to the best SQLite.
//
// Usage:
//
//	go run . [-n 1000000] [-seed 1] [-quick] [-stores memstore,boltstore] [-dir DIR]
//
// Every store gets the same events and the same queries, and every result
// is checked against memstore's: the same events in the same order, the same
// CSV bytes. A mismatch is printed and makes the program exit with status 1.
//
// Workloads: (a) durable single-event appends from one goroutine and (b)
// from 64; (c) batched ingest, 1,000 events per call; (d) queries; (e) the
// full CSV export, through the store and through the HTTP handler over
// loopback; (f) file size, and peak heap and RSS of the export, measured in
// a child process that does only the export. Reads are measured warm and
// cold: cold means the store was closed, its files fsynced and dropped from
// the page cache with posix_fadvise(POSIX_FADV_DONTNEED), and reopened.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// config is the command line.
type config struct {
	n          int
	seed       uint64
	quick      bool
	reps       int           // the fewest warm rounds of every read
	coldReps   int           // the fewest cold rounds of every read
	writeReps  int           // rounds of single appends, from one goroutine and from many
	minTime    time.Duration // a read gets more rounds, up to maxReps, until its rounds took this long
	maxReps    int           // the most rounds of a read, warm or cold
	ingestReps int           // batched ingests of all n events, each into a new store
	singles    int           // single appends per round from one goroutine
	perWorker  int           // single appends per goroutine per round from 64 goroutines
	workers    int
	stores     string
	dir        string
	keep       bool
	cpuprofile string
	profile    string
	memory     bool   // measure the export's memory in a child process
	child      string // internal: measure the export's memory of this store
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&c.n, "n", 1_000_000, "number of generated `events`")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the generated events and their IDs")
	fs.BoolVar(&c.quick, "quick", false, "a small run for CI: n=3000 and fewer repetitions, unless set explicitly")
	fs.IntVar(&c.reps, "reps", 5, "the fewest warm rounds of each read")
	fs.IntVar(&c.coldReps, "cold-reps", 3, "the fewest cold rounds of each read")
	fs.IntVar(&c.writeReps, "write-reps", 10, "rounds of single appends, from one goroutine and from -workers")
	fs.DurationVar(&c.minTime, "min-time", 45*time.Second, "after its fewest rounds, a read (warm or cold) gets more, up to -max-reps, until its rounds on all stores have taken this `duration`")
	fs.IntVar(&c.maxReps, "max-reps", 15, "the most rounds of a read, warm or cold")
	fs.IntVar(&c.ingestReps, "ingest-reps", 3, "batched ingests of all events, each into a new store")
	fs.IntVar(&c.singles, "singles", 1000, "single appends per round from one goroutine")
	fs.IntVar(&c.perWorker, "per-worker", 50, "single appends per goroutine per round from -workers goroutines")
	fs.IntVar(&c.workers, "workers", 64, "goroutines of the concurrent single appends")
	fs.StringVar(&c.stores, "stores", "", "comma-separated `names` of the stores to measure (default all; memstore always runs, as the reference)")
	fs.StringVar(&c.dir, "dir", "", "`directory` for the stores' files (default a new one under $TMPDIR, which must be on disk, not tmpfs)")
	fs.BoolVar(&c.keep, "keep", false, "keep the stores' files")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the measurement named by -profile to `file` (one file per measurement, named after it, when -profile has wildcards)")
	fs.StringVar(&c.profile, "profile", "", "`store/op/phase` to profile, a path.Match pattern such as 'boltstore/export/cold' or 'boltstore/query:*/warm'")
	fs.BoolVar(&c.memory, "export-memory", true, "measure the memory of the export of each store in a child process")
	fs.StringVar(&c.child, "export-child", "", "internal: measure the memory of the export of this store")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.quick {
		quick := map[string]func(){
			"n":           func() { c.n = 3000 },
			"reps":        func() { c.reps = 3 },
			"cold-reps":   func() { c.coldReps = 1 },
			"write-reps":  func() { c.writeReps = 3 },
			"min-time":    func() { c.minTime = 0 },
			"ingest-reps": func() { c.ingestReps = 1 },
			"singles":     func() { c.singles = 50 },
			"per-worker":  func() { c.perWorker = 2 },
		}
		for name, apply := range quick {
			if !set[name] {
				apply()
			}
		}
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q: every setting is a flag", fs.Arg(0))
	case c.n < 100:
		return c, fmt.Errorf("-n %d: need at least 100 events", c.n)
	case c.reps < 1 || c.coldReps < 0 || c.ingestReps < 1 || c.writeReps < 1:
		return c, fmt.Errorf("-reps, -write-reps and -ingest-reps must be at least 1, -cold-reps at least 0")
	case c.maxReps < max(c.reps, c.coldReps):
		return c, fmt.Errorf("-max-reps %d: must be at least -reps (%d) and -cold-reps (%d)", c.maxReps, c.reps, c.coldReps)
	case c.minTime < 0:
		return c, fmt.Errorf("-min-time %v: must not be negative", c.minTime)
	case c.singles < 1 || c.perWorker < 1 || c.workers < 1:
		return c, fmt.Errorf("-singles, -per-worker and -workers must be at least 1")
	case (c.cpuprofile == "") != (c.profile == ""):
		return c, fmt.Errorf("-cpuprofile and -profile go together: name the file and the measurement")
	}
	if c.profile != "" {
		if _, err := path.Match(c.profile, ""); err != nil {
			return c, fmt.Errorf("-profile %q: %w", c.profile, err)
		}
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if cfg.child != "" {
		if err := exportChild(cfg); err != nil {
			fmt.Fprintln(os.Stderr, "bench export child:", err)
			os.Exit(1)
		}
		return
	}
	code, err := run(context.Background(), cfg, adapters(), os.Stdout, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	os.Exit(code)
}

// bench is one run of the program.
type bench struct {
	cfg     config
	out     io.Writer
	errOut  io.Writer
	root    string
	data    *packedEvents
	extra   []auditevents.AuditEvent // the single appends, the same for every store
	ops     []readOp
	ref     map[string]fingerprint // memstore's results, by op id
	results []*result
	sizes   map[string]int64
	memory  map[string]*exportMemory
	notes   []string
	failed  []string

	start      time.Time
	untimed    time.Duration // what a repetition spent outside the measurement
	untimedCPU time.Duration // the CPU time of untimed
	lastCPU    time.Duration // the CPU time of the last repetition timed, less untimedCPU
	// The bytes in use of the stores of the log's cost measurement after
	// its last round, by store.
	used map[string]int64

	// The most bytes of a store's files still cached when a cold read
	// began, and the files' size.
	stillCached, cachedOf map[string]int64
	syncRates             map[string][]float64 // by write workload, one per round
	profile               profiler
	profiled              bool
}

// run runs the benchmark on the stores of all that cfg selects, and returns
// the exit status: 0, or 1 when a store returned a result different from
// memstore's or failed.
func run(ctx context.Context, cfg config, all []Adapter, out, errOut io.Writer) (int, error) {
	b := &bench{cfg: cfg, out: out, errOut: errOut, ref: map[string]fingerprint{}, sizes: map[string]int64{}, memory: map[string]*exportMemory{}, used: map[string]int64{},
		stillCached: map[string]int64{}, cachedOf: map[string]int64{}, syncRates: map[string][]float64{}}
	ads, err := selectAdapters(all, cfg.stores)
	if err != nil {
		return 2, err
	}
	b.root = cfg.dir
	if b.root == "" {
		if b.root, err = os.MkdirTemp("", "auditevents-bench-"); err != nil {
			return 2, err
		}
		if !cfg.keep {
			defer os.RemoveAll(b.root)
		}
	} else if err := os.MkdirAll(b.root, 0o755); err != nil {
		return 2, err
	}

	b.start = time.Now()
	g := newGenerator(cfg.seed)
	data := g.Events(cfg.n)
	b.extra = g.After(cfg.writeReps * (cfg.singles + cfg.workers*cfg.perWorker))
	b.ops = readOps(data)
	b.data = pack(data)
	data = nil
	b.header(ads, time.Since(b.start))

	b.measureAll(ctx, ads)
	b.stopProfile()
	if cfg.profile != "" && !b.profiled {
		b.notes = append(b.notes, fmt.Sprintf("-profile %q matched no measurement: no profile written", cfg.profile))
	}
	b.report(ads)
	fmt.Fprintf(out, "\nTotal time: %s.\n", time.Since(b.start).Round(time.Second))
	if len(b.failed) > 0 {
		fmt.Fprintf(out, "\n## FAILED\n\n")
		for _, f := range b.failed {
			fmt.Fprintf(out, "- %s\n", f)
		}
		return 1, fmt.Errorf("%d failures; see the end of the output", len(b.failed))
	}
	return 0, nil
}

// selectAdapters returns the adapters named in list (all when it is empty),
// memstore first: it is the reference every result is checked against.
func selectAdapters(all []Adapter, list string) ([]Adapter, error) {
	want := map[string]bool{}
	for _, name := range strings.Split(list, ",") {
		if name = strings.TrimSpace(name); name != "" {
			want[name] = true
		}
	}
	var out []Adapter
	var names []string
	found := map[string]bool{}
	for _, ad := range all {
		names = append(names, ad.Name)
		short, _, _ := strings.Cut(ad.Name, " ")
		if ad.Name == "memstore" || len(want) == 0 || want[ad.Name] || want[short] {
			out = append(out, ad)
			found[ad.Name], found[short] = true, true
		}
	}
	for name := range want {
		if !found[name] {
			return nil, fmt.Errorf("-stores: no store %q in this build; it has %s", name, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// fail records a failure, and prints it at once.
func (b *bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintln(b.errOut, "bench: FAIL:", msg)
	b.failed = append(b.failed, msg)
}

// timed runs fn, round number round of a measurement (warmUp: an untimed
// round, which it only times for the progress line), after a garbage
// collection, and returns its duration less what fn spent outside the
// measurement (b.untimed), which it also prints on the progress line. When
// -profile names the measurement, its first round runs under the CPU
// profiler; a warm read is then run again, untimed, until the profile holds
// at least three seconds of it, so that a query of a millisecond still
// leaves enough samples.
func (b *bench) timed(store, op, phase string, round int, fn func() error) (time.Duration, error) {
	which := fmt.Sprintf("round %d", round+1)
	if round == warmUp {
		which = "untimed round"
	}
	fmt.Fprintf(b.errOut, "bench: %s  %s %s %s %s", time.Since(b.start).Round(time.Second), store, op, phase, which)
	key := store + "/" + op + "/" + phase
	profiling, err := b.profileFor(key, round)
	if err != nil {
		fmt.Fprintln(b.errOut)
		return 0, err
	}
	runtime.GC()
	b.untimed, b.untimedCPU = 0, 0
	start, startCPU := time.Now(), cpuTime()
	if err := fn(); err != nil {
		fmt.Fprintf(b.errOut, ": %v\n", err)
		return 0, err
	}
	d := time.Since(start) - b.untimed
	b.lastCPU = cpuTime() - startCPU - b.untimedCPU
	fmt.Fprintf(b.errOut, ": %s\n", dur(d))
	if profiling && phase == "warm" {
		extra := 0
		for spent := d; spent < 3*time.Second; extra++ {
			start := time.Now()
			if err := fn(); err != nil {
				return d, err
			}
			spent += time.Since(start)
		}
		b.profile.runs[key] += extra
	}
	if profiling {
		b.stopProfile()
	}
	return d, nil
}

// profiler is the state of -cpuprofile and -profile.
type profiler struct {
	key  string // the measurement being profiled, or ""
	path string
	file *os.File
	runs map[string]int // untimed runs added to warm profiles
}

// profileFor starts the CPU profiler for the first round of the
// measurement key when -profile matches it. It reports whether key is being
// profiled. A pattern with wildcards writes one file per measurement, its
// name inserted before the extension of -cpuprofile.
func (b *bench) profileFor(key string, round int) (bool, error) {
	p := &b.profile
	if b.cfg.profile == "" || round != 0 {
		return false, nil
	}
	if ok, _ := path.Match(b.cfg.profile, key); !ok {
		return false, nil
	}
	p.path = b.cfg.cpuprofile
	if strings.ContainsAny(b.cfg.profile, "*?[") {
		ext := filepath.Ext(p.path)
		name := strings.NewReplacer("/", "-", " ", "-", ":", "-").Replace(key)
		p.path = strings.TrimSuffix(p.path, ext) + "-" + name + ext
	}
	f, err := os.Create(p.path)
	if err != nil {
		return false, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return false, err
	}
	p.key, p.file = key, f
	if p.runs == nil {
		p.runs = map[string]int{}
	}
	return true, nil
}

// stopProfile ends the profile being written, if any.
func (b *bench) stopProfile() {
	p := &b.profile
	if p.key == "" {
		return
	}
	pprof.StopCPUProfile()
	p.file.Close()
	msg := fmt.Sprintf("CPU profile of %s written to %s", p.key, p.path)
	if n := p.runs[p.key]; n > 0 {
		msg += fmt.Sprintf(" (with %d untimed runs added, for enough samples)", n)
	}
	b.notes = append(b.notes, msg)
	p.key, p.file = "", nil
	b.profiled = true
}

func (b *bench) add(r *result) { b.results = append(b.results, r) }

// storeDir returns the directory of a store's files.
func (b *bench) storeDir(ad Adapter) string {
	return filepath.Join(b.root, strings.ReplaceAll(ad.Name, " ", "-"))
}

// subject is one store being measured, with what its workloads need.
type subject struct {
	ad     Adapter
	s      Subject
	dir    string
	next   []auditevents.AuditEvent // the single appends not yet made
	failed bool                     // a workload failed: skip the rest
}

// fail records that a workload of the store failed, and drops the store
// from the rest of the run.
func (b *bench) failStore(sub *subject, err error) {
	b.fail("%s: %v", sub.ad.Name, err)
	sub.failed = true
}

// live returns the subjects still measured; reads without the stores that
// only write.
func live(subs []*subject, reads bool) []*subject {
	var out []*subject
	for _, sub := range subs {
		if !sub.failed && sub.s != nil && !(reads && sub.ad.WritesOnly) {
			out = append(out, sub)
		}
	}
	return out
}

// measureAll runs every workload on every store, interleaved: each round
// of a workload runs on every store in turn before the next round begins,
// so that a slow minute of the shared disk or CPU hits every store alike,
// and the spread of each ratio over the rounds shows how noisy it was.
func (b *bench) measureAll(ctx context.Context, ads []Adapter) {
	subs := make([]*subject, len(ads))
	for i, ad := range ads {
		subs[i] = &subject{ad: ad, dir: b.storeDir(ad), next: b.extra}
	}
	defer func() {
		for _, sub := range subs {
			if sub.s != nil {
				sub.s.Close()
			}
			if !b.cfg.keep {
				os.RemoveAll(sub.dir)
			}
		}
	}()

	// (c) batched ingest, each round into a new store; the last is kept.
	const batch = 1000
	for round := range b.cfg.ingestReps {
		b.probeSync("ingest")
		for _, sub := range subs {
			if sub.failed {
				continue
			}
			err := b.round(sub.ad.Name, "ingest", "write", b.data.Len(), round, func() error {
				if sub.s != nil {
					sub.s.Close()
					sub.s = nil
				}
				if err := os.RemoveAll(sub.dir); err != nil {
					return err
				}
				if err := os.MkdirAll(sub.dir, 0o755); err != nil {
					return err
				}
				var err error
				if sub.s, err = sub.ad.Open(sub.dir); err != nil {
					return err
				}
				events := make([]auditevents.AuditEvent, 0, batch)
				for i := 0; i < b.data.Len(); i += batch {
					decoding, decodingCPU := time.Now(), cpuTime()
					events = b.data.decode(i, min(i+batch, b.data.Len()), events[:0])
					b.untimed += time.Since(decoding)
					b.untimedCPU += cpuTime() - decodingCPU
					if err := sub.s.Append(ctx, events...); err != nil {
						return fmt.Errorf("batched ingest: %w", err)
					}
				}
				return nil
			})
			if err != nil {
				b.failStore(sub, err)
			}
		}
	}
	b.measureLogCost(ctx, subs)
	for _, sub := range live(subs, false) {
		if st, ok := sub.s.(interface{ Settle(context.Context) error }); ok {
			if err := st.Settle(ctx); err != nil {
				b.failStore(sub, err)
			}
		}
	}

	// (a) single appends from one goroutine; (b) from many. Their rounds
	// are counted, not timed, so that every run appends the same events
	// and its reads find the same data.
	for round := range b.cfg.writeReps {
		b.probeSync("append-1")
		for _, sub := range live(subs, false) {
			err := b.round(sub.ad.Name, "append-1", "write", b.cfg.singles, round, func() error {
				r := sub.next[:b.cfg.singles]
				sub.next = sub.next[b.cfg.singles:]
				for i := range r {
					if err := sub.s.Append(ctx, r[i]); err != nil {
						return fmt.Errorf("single append: %w", err)
					}
				}
				return nil
			})
			if err != nil {
				b.failStore(sub, err)
			}
		}
	}
	for round := range b.cfg.writeReps {
		b.probeSync("append-64")
		for _, sub := range live(subs, false) {
			n := b.cfg.workers * b.cfg.perWorker
			err := b.round(sub.ad.Name, "append-64", "write", n, round, func() error {
				r := sub.next[:n]
				sub.next = sub.next[n:]
				return appendConcurrently(ctx, sub.s, r, b.cfg.workers)
			})
			if err != nil {
				b.failStore(sub, err)
			}
		}
	}

	for _, sub := range live(subs, true) {
		if err := b.measureSize(ctx, sub); err != nil {
			b.failStore(sub, err)
		}
	}

	// (d) queries and (e) exports, warm: a first run checks each store's
	// result against memstore's and warms the caches.
	var ops []readOp
	for _, op := range b.ops {
		if op.kind != opHTTPExport || httpAvailable {
			ops = append(ops, op)
		}
	}
	for _, op := range ops {
		rows := map[*subject]int{}
		for _, sub := range live(subs, true) {
			n, fp, err := op.run(ctx, sub.s, true)
			if err != nil {
				b.failStore(sub, fmt.Errorf("%s: %w", op.id, err))
				continue
			}
			b.check(sub.ad.Name, op, fp)
			rows[sub] = n
		}
		b.rounds(b.cfg.reps, func(round int) {
			for _, sub := range live(subs, true) {
				err := b.round(sub.ad.Name, op.id, "warm", rows[sub], round, func() error {
					n, _, err := op.run(ctx, sub.s, false)
					if err == nil && n != rows[sub] {
						err = fmt.Errorf("%s returned %d events, then %d", op.id, rows[sub], n)
					}
					return err
				})
				if err != nil {
					b.failStore(sub, fmt.Errorf("%s: %w", op.id, err))
				}
			}
		})
	}

	// The same, cold.
	for _, op := range ops {
		for _, sub := range live(subs, true) {
			r := &result{store: sub.ad.Name, op: op.id, phase: "cold", rows: b.ref[op.id].rows}
			b.add(r)
			switch {
			case !sub.ad.Persistent:
				r.note = "in memory"
			case sub.s.Files() == nil:
				r.note = "not local files"
			case b.cfg.coldReps == 0:
				r.note = "-cold-reps 0"
			}
		}
		// An untimed round first, as the warm reads have: the first cold
		// read of a file in a while is the slowest for every store, by as
		// much as the disk's own cache (below the page cache that the
		// rounds drop) decides. At 1,000,000 events a one-user query took
		// 3.81 s, then 262 ms.
		cold := func(round int) {
			for _, sub := range live(subs, true) {
				r := b.find(sub.ad.Name, op.id, "cold")
				if r.note != "" {
					continue
				}
				if err := b.coldRound(ctx, sub, op, r, round); err != nil {
					b.failStore(sub, fmt.Errorf("%s cold: %w", op.id, err))
				}
			}
		}
		if b.cfg.coldReps > 0 {
			cold(warmUp)
		}
		b.rounds(b.cfg.coldReps, cold)
	}

	// (f) the export's memory, in a child process, with the store closed so
	// that the child can open it.
	for _, sub := range live(subs, true) {
		if sub.ad.Persistent {
			sub.s.Close()
			sub.s = nil
		}
		if !b.cfg.memory {
			continue
		}
		m, err := b.measureExportMemory(sub.ad, sub.dir)
		if err != nil {
			b.fail("%s: export memory: %v", sub.ad.Name, err)
		} else {
			b.memory[sub.ad.Name] = m
		}
	}
}

// rounds runs the rounds of a read workload, each on every store in turn:
// at least least rounds, then more while all its rounds so far have taken
// less than -min-time, up to -max-reps; none when least is 0 (-cold-reps
// 0). A cheap read so gets the rounds that make its median steady, and a
// full export, which takes a minute a round, only its fewest. Every store
// has the same rounds, so that each round's ratio compares stores measured
// seconds apart.
func (b *bench) rounds(least int, fn func(round int)) {
	if least == 0 {
		return
	}
	start := time.Now()
	for round := 0; round < least || (round < b.cfg.maxReps && time.Since(start) < b.cfg.minTime); round++ {
		fn(round)
	}
}

// round runs one round of a workload on one store and adds its time to the
// store's result, creating it at the first round.
func (b *bench) round(store, op, phase string, rows, round int, fn func() error) error {
	d, err := b.timed(store, op, phase, round, fn)
	r := b.find(store, op, phase)
	if r == nil {
		r = &result{store: store, op: op, phase: phase, rows: rows}
		b.add(r)
	}
	if err == nil {
		r.times = append(r.times, d)
		r.cpu = append(r.cpu, b.lastCPU)
	}
	return err
}

// warmUp is the round number of an untimed round.
const warmUp = -1

// coldRound reopens the store with its files dropped from the page cache
// and runs op once, adding its time to r unless round is warmUp.
func (b *bench) coldRound(ctx context.Context, sub *subject, op readOp, r *result, round int) error {
	var err error
	if sub.s, err = b.reopen(sub.ad, sub.s, sub.dir, true); err != nil {
		return err
	}
	var blocks int64
	d, err := b.timed(sub.ad.Name, op.id, "cold", round, func() error {
		before := blocksRead()
		n, _, err := op.run(ctx, sub.s, false)
		if err == nil && n != r.rows {
			err = fmt.Errorf("%s returned %d events cold, %d warm", op.id, n, r.rows)
		}
		if blocks = blocksRead() - before; before < 0 {
			blocks = -1
		}
		return err
	})
	if err != nil || round == warmUp {
		return err
	}
	r.readBytes = append(r.readBytes, blocks*512)
	r.times = append(r.times, d)
	return nil
}

// appendConcurrently appends events one per call from workers goroutines:
// goroutine w appends events w, w+workers, w+2*workers, and so on, so that
// the events in flight at any moment are close in time, as those of
// concurrent callers that stamp their events when they happen are.
func appendConcurrently(ctx context.Context, s Subject, events []auditevents.AuditEvent, workers int) error {
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			for i := w; i < len(events); i += workers {
				if err := s.Append(ctx, events[i]); err != nil {
					errs <- fmt.Errorf("concurrent single append: %w", err)
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range workers {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// measureSize reopens a persistent store, so that the size is that of
// closed, checkpointed files, and records the size of its data.
func (b *bench) measureSize(ctx context.Context, sub *subject) error {
	if sub.ad.Persistent {
		var err error
		if sub.s, err = b.reopen(sub.ad, sub.s, sub.dir, false); err != nil {
			return err
		}
	}
	if sz, ok := sub.s.(interface {
		Size(context.Context) (int64, error)
	}); ok {
		size, err := sz.Size(ctx)
		if err != nil {
			return fmt.Errorf("size: %w", err)
		}
		b.sizes[sub.ad.Name] = size
	} else if files := sub.s.Files(); files != nil {
		var size int64
		for _, f := range files {
			if st, err := os.Stat(f); err == nil {
				size += st.Size()
			}
		}
		b.sizes[sub.ad.Name] = size
	}
	return nil
}

// reopen closes s and opens the store in dir again. When cold, it drops the
// store's files from the page cache before opening them, so that opening
// starts cold too, and again after, so that the query does not find what
// opening read (a store may check its file as it opens). Pages that the open
// store has mapped into memory cannot be dropped: how much stays cached is
// measured and noted.
func (b *bench) reopen(ad Adapter, s Subject, dir string, cold bool) (Subject, error) {
	files := s.Files()
	if err := s.Close(); err != nil {
		return nil, fmt.Errorf("closing: %w", err)
	}
	if cold {
		b.drop(ad, files)
	}
	s, err := ad.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("reopening: %w", err)
	}
	if cold {
		if in, total := b.drop(ad, s.Files()); total > 0 && in > b.stillCached[ad.Name] {
			b.stillCached[ad.Name] = in
			b.cachedOf[ad.Name] = total
		}
	}
	return s, nil
}

// drop drops files from the page cache and returns how many of their bytes
// are still cached, and their size; it notes when it cannot.
func (b *bench) drop(ad Adapter, files []string) (inCache, total int64) {
	if err := dropCache(files); err != nil {
		b.note(fmt.Sprintf("%s: cold reads are not cold: %v", ad.Name, err))
		return 0, 0
	}
	in, total, err := resident(files)
	if err != nil {
		b.note(fmt.Sprintf("%s: could not check that the files left the page cache: %v", ad.Name, err))
		return 0, 0
	}
	return in, total
}

// note records a remark once.
func (b *bench) note(n string) {
	for _, have := range b.notes {
		if have == n {
			return
		}
	}
	b.notes = append(b.notes, n)
}

// check compares a store's result with memstore's, which is recorded the
// first time.
func (b *bench) check(store string, op readOp, fp fingerprint) {
	ref, ok := b.ref[op.id]
	if !ok {
		b.ref[op.id] = fp
		if csv, ok := b.ref["export"]; ok && op.kind == opHTTPExport {
			if diff := csv.diff(fp); diff != "" {
				b.fail("%s, %s: the download differs from the CSV written through the Store: %s", store, op.title, diff)
			}
		}
		return
	}
	if diff := ref.diff(fp); diff != "" {
		b.fail("%s, %s: result differs from memstore's: %s", store, op.title, diff)
	}
}
