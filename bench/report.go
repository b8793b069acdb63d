package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// target is the store the targets are set for.
const target = "boltstore"

func (b *bench) header(ads []Adapter, genTime time.Duration) {
	w := b.out
	c := b.cfg
	fmt.Fprintf(w, "# auditevents: stores compared with indexed SQLite\n\n")
	fmt.Fprintf(w, "Command: `%s` (in bench/)\n\n", strings.Join(append([]string{"go", "run", "."}, os.Args[1:]...), " "))
	fmt.Fprintf(w, "Machine: %s\n\n", machine(b.root))
	fmt.Fprintf(w, "The machine is shared with other builds and tests, so absolute figures are noisy: read the ratios, which compare stores measured in the same run on the same data.\n\n")
	fmt.Fprintf(w, "Data: %s events (-seed %d, generated in %s): 365 days, %d users, %d configurations with versions, %d kinds, %d accounts (one the default \"\"), realistic actions and descriptions; IDs are ULIDs from a seeded source, so every run with the same -n and -seed has the same events.\n\n",
		thousands(int64(c.n)), c.seed, genTime.Round(time.Millisecond), genUsers, genConfigurations, len(auditevents.Kinds()), len(genAccounts))
	fmt.Fprintf(w, "Repetitions: batched ingest %d (each into a new store), single appends %d rounds of %d (one goroutine) and of %d×%d (%d goroutines, each appending every %[6]dth event of the round, so that the events in flight at once are close in time, as those of callers that stamp events when they happen), reads at least %d warm and %d cold rounds, each after an untimed one (the first cold read of a file in a while is slower than the next ones, for every store, by as much as the disk's own cache decides), more up to %d while a read's rounds have taken less than %s. The stores are measured interleaved: each round of a workload runs on every store in turn before the next round begins, so that a slow minute of the shared disk hits every store alike. Tables give the median, the min and the max. A read's ratio is the median of the ratios of the single rounds, each comparing stores measured seconds apart. A write's rate is over all its rounds (every round's events over their summed time), so that work a store does every so many events (boltstore's sealing of its recent index entries every 8,192 events, SQLite's checkpoints) counts as often as it happens, which the counted rounds make the same in every run; its ratio compares those rates. The range after a ratio is the lowest and highest of the rounds' ratios (from the extremes where rounds cannot be paired, as a store's 64 goroutines against its one).\n\n",
		c.ingestReps, c.writeReps, c.singles, c.workers, c.perWorker, c.workers, c.reps, c.coldReps, c.maxReps, c.minTime)
	fmt.Fprintf(w, "Stores:\n\n")
	for _, ad := range ads {
		fmt.Fprintf(w, "- %s", ad.Name)
		if ad.Note != "" {
			fmt.Fprintf(w, ": %s", ad.Note)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "\nSQLite as a careful user sets it up (%s): journal_mode=WAL; synchronous=FULL for the durable comparisons, NORMAL reported for writes (in WAL mode it may lose the last commits on power loss); busy_timeout; one table with the timestamp as integer microseconds and indexes on (ts, id), (user, ts, id), (config_name, ts, id) and (account, ts, id), config_name being the configuration without its version so that both forms of the configuration filter use an index; the actor fields in nullable columns, with partial indexes on (request_id, ts, id) and (ip_address, ts, id), the address a blob of its family and bytes so that a network is a range; id UNIQUE; prepared statements; one transaction per Append; writes through one connection, reads through a pool of four; ANALYZE after the ingest. It passes the same conformance suite as our stores (store/storetest), so filters, bounds, order and paging mean the same.\n\n", cgoNote)
	fmt.Fprintf(w, "Cold: before each cold read the store is closed, its files fsynced and dropped from the page cache with posix_fadvise(POSIX_FADV_DONTNEED), the store reopened, and its files dropped again, so that the read does not find what opening read; what stays cached is measured with mincore and given in the notes. \"Read from disk\" is getrusage's ru_inblock over the read.\n")
}

// machine describes this machine for the header.
func machine(dir string) string {
	var parts []string
	parts = append(parts, fmt.Sprintf("nproc %d (GOMAXPROCS %d)", runtime.NumCPU(), runtime.GOMAXPROCS(0)))
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				parts = append(parts, strings.TrimSpace(v))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				parts = append(parts, "memory "+bytesIEC(kb<<10))
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, runtime.GOOS+" "+strings.TrimSpace(string(b)))
	} else {
		parts = append(parts, runtime.GOOS)
	}
	parts = append(parts, runtime.Version()+" "+runtime.GOARCH)
	if fs := fsType(dir); fs != "" {
		parts = append(parts, "files on "+fs)
	}
	return strings.Join(parts, ", ")
}

// fsType returns the file system type of dir, from /proc/mounts.
func fsType(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return ""
	}
	best, typ := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		mnt := f[1]
		if (abs == mnt || strings.HasPrefix(abs, strings.TrimSuffix(mnt, "/")+"/")) && len(mnt) >= len(best) {
			best, typ = mnt, f[2]
		}
	}
	if typ == "" {
		return ""
	}
	return typ + " (" + abs + ")"
}

// find returns the result of store for op in phase, or nil.
func (b *bench) find(store, op, phase string) *result {
	for _, r := range b.results {
		if r.store == store && r.op == op && r.phase == phase {
			return r
		}
	}
	return nil
}

// best returns the baseline with the highest rate over all rounds for a
// write, the lowest median time for a read, among the durable baselines
// when durable is set.
func (b *bench) best(ads []Adapter, op, phase string, durable bool) *result {
	var best *result
	for _, ad := range ads {
		if !ad.Baseline || (durable && !ad.Durable) {
			continue
		}
		r := b.find(ad.Name, op, phase)
		if r == nil || len(r.times) == 0 {
			continue
		}
		if best == nil || (phase == "write" && r.sustained() > best.sustained()) ||
			(phase != "write" && r.times.median() < best.times.median()) {
			best = r
		}
	}
	return best
}

// ratio returns the store's ratio to the best baseline: of rates (higher
// is better) when rate is set, else of times (lower is better). Between
// writes it is the ratio of their sustained rates, over all rounds (see
// sustained). Otherwise, when both have the same rounds, measured
// interleaved, it is the median of the rounds' ratios: a slow spell of the
// machine that slows both stores in one round then cancels out, where a
// ratio of medians would compare a fast round of one with a slow round of
// the other. Else it is the ratio of the medians. It is NaN when either is
// missing.
func ratio(r, best *result, rate bool) float64 {
	if r == nil || best == nil || len(r.times) == 0 || len(best.times) == 0 {
		return math.NaN()
	}
	if rate && r.phase == "write" && best.phase == "write" {
		return r.sustained() / best.sustained()
	}
	if paired(r, best) {
		return median(roundRatios(r, best, rate))
	}
	if rate {
		return r.rate(r.times.median()) / best.rate(best.times.median())
	}
	return r.times.median().Seconds() / best.times.median().Seconds()
}

// paired reports whether r and best were measured in the same interleaved
// rounds, so that round i of one can be compared with round i of the other.
func paired(r, best *result) bool {
	return r.op == best.op && r.phase == best.phase && len(r.times) == len(best.times)
}

// roundRatios returns the ratio of r to best in each round.
func roundRatios(r, best *result, rate bool) []float64 {
	out := make([]float64, len(r.times))
	for i := range r.times {
		if rate {
			out[i] = r.rate(r.times[i]) / best.rate(best.times[i])
		} else {
			out[i] = r.times[i].Seconds() / best.times[i].Seconds()
		}
	}
	return out
}

func (b *bench) report(ads []Adapter) {
	w := b.out
	writeTable := func(title, op string, durable bool, extra func(ad Adapter, r *result) string, extraHead string) {
		best := b.best(ads, op, "write", durable)
		fmt.Fprintf(w, "\n## %s\n\n", title)
		against := "best SQLite"
		if durable {
			against = "best SQLite FULL"
		}
		if best != nil {
			fmt.Fprintf(w, "Best baseline: %s. Ratios are events per second relative to it; higher is better.\n\n", best.store)
		}
		fmt.Fprintf(w, "| store | durable | events/s (all rounds) | slowest round | fastest round | x %s |%s\n", against, extraHead)
		fmt.Fprintf(w, "|---|---|--:|--:|--:|--:|%s\n", strings.Repeat("--:|", strings.Count(extraHead, "|")))
		for _, ad := range ads {
			r := b.find(ad.Name, op, "write")
			if r == nil || len(r.times) == 0 {
				continue
			}
			row := fmt.Sprintf("| %s | %s | %s | %s | %s | %s |", ad.Name, yesNo(ad.Durable),
				rate(r.sustained()), rate(r.rate(r.times.max())), rate(r.rate(r.times.min())), fmtSpread(r, best, true))
			if extra != nil {
				row += extra(ad, r)
			}
			fmt.Fprintln(w, row)
		}
		if rates := b.syncRates[op]; len(rates) > 0 {
			c := slices.Clone(rates)
			slices.Sort(c)
			fmt.Fprintf(w, "\nThe disk, just before each round: %s fdatasyncs per second (median; %s – %s over the %d rounds).\n",
				thousands(int64(c[len(c)/2])), thousands(int64(c[0])), thousands(int64(c[len(c)-1])), len(c))
		}
	}
	writeTable(fmt.Sprintf("(a) Durable single-event appends, one goroutine (%d per round)", b.cfg.singles), "append-1", true, nil, "")
	writeTable(fmt.Sprintf("(b) Durable single-event appends, %d goroutines (%d per round)", b.cfg.workers, b.cfg.workers*b.cfg.perWorker), "append-64", true,
		func(ad Adapter, r *result) string {
			return " " + fmtSpread(r, b.find(ad.Name, "append-1", "write"), true) + " |"
		}, " x its own one-goroutine rate |")
	writeTable(fmt.Sprintf("(c) Batched ingest of %s events, 1,000 per Append", thousands(int64(b.cfg.n))), "ingest", true, nil, "")
	b.logCostTable(ads)

	for _, op := range b.ops {
		if op.kind == opHTTPExport && !httpAvailable {
			fmt.Fprintf(w, "\n## (e) %s\n\nNot measured: this build has no HTTP handler.\n", op.title)
			continue
		}
		b.readTable(ads, op)
	}
	b.sizeTable(ads)
	b.memoryTable(ads)
	b.summary(ads)
	for _, ad := range ads {
		if total := b.cachedOf[ad.Name]; total > 0 {
			in := b.stillCached[ad.Name]
			b.notes = append(b.notes, fmt.Sprintf("%s: when a cold read began, at most %s of its %s of files (%.1f%%) were still in the page cache (pages the open store had mapped, which cannot be dropped, or read since the drop)",
				ad.Name, bytesIEC(in), bytesIEC(total), 100*float64(in)/float64(total)))
		}
	}
	if len(b.notes) > 0 {
		fmt.Fprintf(w, "\n## Notes\n\n")
		for _, n := range b.notes {
			fmt.Fprintf(w, "- %s\n", n)
		}
	}
}

func (b *bench) readTable(ads []Adapter, op readOp) {
	w := b.out
	ref := b.ref[op.id]
	isExport := op.kind != opQuery
	if isExport {
		fmt.Fprintf(w, "\n## (e) %s\n\n%s rows. Ratios are rows per second relative to the best SQLite in the same phase; higher is better.\n\n", op.title, thousands(int64(ref.rows)))
		fmt.Fprintf(w, "| store | warm (median) | min – max | rows/s | x best SQLite | cold (median) | min – max | rows/s | x best SQLite | read from disk, cold |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	} else {
		fmt.Fprintf(w, "\n## (d) Query: %s\n\n%s; %s rows. Ratios are latency relative to the best SQLite in the same phase; lower is better.\n\n", op.title, op.describe(), thousands(int64(ref.rows)))
		fmt.Fprintf(w, "| store | warm (median) | min – max | x best SQLite | cold (median) | min – max | x best SQLite | read from disk, cold |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
	}
	for _, ad := range ads {
		if ad.WritesOnly {
			continue
		}
		row := "| " + ad.Name + " |"
		for _, phase := range []string{"warm", "cold"} {
			r := b.find(ad.Name, op.id, phase)
			if r == nil || len(r.times) == 0 {
				note := "not measured"
				if r != nil && r.note != "" {
					note = r.note
				}
				if isExport {
					row += " " + note + " | | | |"
				} else {
					row += " " + note + " | | |"
				}
				if phase == "cold" {
					row += " |"
				}
				continue
			}
			best := b.best(ads, op.id, phase, false)
			row += fmt.Sprintf(" %s | %s – %s |", dur(r.times.median()), dur(r.times.min()), dur(r.times.max()))
			if isExport {
				row += fmt.Sprintf(" %s | %s |", rate(r.rate(r.times.median())), fmtSpread(r, best, true))
			} else {
				row += fmt.Sprintf(" %s |", fmtSpread(r, best, false))
			}
			if phase == "cold" {
				row += " " + diskRead(r.readBytes) + " |"
			}
		}
		fmt.Fprintln(w, row)
	}
}

func (b *bench) sizeTable(ads []Adapter) {
	w := b.out
	var bestName string
	var bestSize int64
	for _, ad := range ads {
		if sz, ok := b.sizes[ad.Name]; ok && ad.Baseline && (bestName == "" || sz < bestSize) {
			bestName, bestSize = ad.Name, sz
		}
	}
	events := int64(b.cfg.n + b.cfg.writeReps*(b.cfg.singles+b.cfg.workers*b.cfg.perWorker))
	fmt.Fprintf(w, "\n## (f) File size on disk\n\n%s events, after closing (SQLite's write-ahead log checkpointed into the database). Ratio to the smallest SQLite; lower is better.\n\n", thousands(events))
	fmt.Fprintf(w, "| store | size | bytes/event | x best SQLite |\n|---|--:|--:|--:|\n")
	for _, ad := range ads {
		sz, ok := b.sizes[ad.Name]
		if !ok {
			continue
		}
		r := math.NaN()
		if bestSize > 0 {
			r = float64(sz) / float64(bestSize)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s |\n", ad.Name, bytesIEC(sz), sz/events, fmtRatio(r))
	}
}

func (b *bench) memoryTable(ads []Adapter) {
	w := b.out
	fmt.Fprintf(w, "\n## (f) Memory of the full CSV export\n\n")
	fmt.Fprintf(w, "Measured in a child process that opens the store (memstore: fills it with the same %s events) and exports every event to io.Discard, and nothing else. Heap: bytes of heap objects (runtime/metrics, as MemStats.HeapAlloc), sampled every millisecond and at each tenth of the rows; \"first tenth\" is the peak over the first 10%% of the rows, so a heap flat in N shows the same figure in both columns. RSS: VmHWM from /proc/self/status, reset before the export by writing 5 to /proc/self/clear_refs when the kernel allows it (\"reset\"), else the child's whole life's peak; RssAnon/RssFile at the end split it into anonymous memory and mapped file pages.\n\n", thousands(int64(b.cfg.n)))
	fmt.Fprintf(w, "| store | heap before | heap peak | peak, first tenth | RSS before | RSS peak | RssAnon | RssFile |\n|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, ad := range ads {
		m, ok := b.memory[ad.Name]
		if !ok {
			continue
		}
		peak := bytesIEC(int64(m.RSSPeak))
		if m.RSSPeakReset {
			peak += " (reset)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", ad.Name, bytesIEC(int64(m.HeapBefore)), bytesIEC(int64(m.HeapPeak)), bytesIEC(int64(m.HeapPeakTenth)),
			bytesIEC(int64(m.RSSBefore)), peak, bytesIEC(int64(m.RSSAnon)), bytesIEC(int64(m.RSSFile)))
	}
}

// summary checks the targets for boltstore.
func (b *bench) summary(ads []Adapter) {
	w := b.out
	fmt.Fprintf(w, "\n## Targets for %s\n\n", target)
	var have bool
	for _, ad := range ads {
		have = have || ad.Name == target
	}
	if !have {
		fmt.Fprintf(w, "%s is not in this run.\n", target)
		return
	}
	fmt.Fprintf(w, "| target | measured | rounds | verdict |\n|---|--:|--:|---|\n")
	row := func(what string, r, best *result, rate bool, want float64) {
		got := ratio(r, best, rate)
		lo, hi := spread(r, best, rate)
		bound := "at most"
		if rate {
			bound = "at least"
		}
		fmt.Fprintf(w, "| %s: %s %s | %s | %s | %s |\n", what, bound, fmtRatio(want), fmtRatio(got), fmtRange(lo, hi), verdict(got, want, rate))
	}
	ours := func(op, phase string) *result { return b.find(target, op, phase) }
	row(fmt.Sprintf("%d concurrent durable single appends vs best SQLite FULL", b.cfg.workers), ours("append-64", "write"), b.best(ads, "append-64", "write", true), true, 10)
	row(fmt.Sprintf("%d concurrent durable single appends vs its own one-goroutine rate", b.cfg.workers), ours("append-64", "write"), ours("append-1", "write"), true, 10)
	row("batched ingest vs best SQLite FULL", ours("ingest", "write"), b.best(ads, "ingest", "write", true), true, 1.5)
	for _, c := range b.logCosts(ads) {
		if c.store != target {
			continue
		}
		row("batched ingest with the verifiable log vs without it, same run", c.with, c.without, true, 0.9)
		perEvent := func(what string, got, want float64, unit string) {
			v := "pass"
			if math.IsNaN(got) {
				v = "not measured"
			} else if got > want {
				v = fmt.Sprintf("MISS by %.2fx", got/want)
			}
			fmt.Fprintf(w, "| %s: at most %s %s | %s %s | | %s |\n", what, sig3(want), unit, sig3(got), unit, v)
		}
		perEvent("the verifiable log's CPU per event in batched ingest", c.cpu, 2, "µs")
		perEvent("the verifiable log's bytes on disk per event", c.bytes, 64, "bytes")
	}
	for _, op := range b.ops {
		if op.kind == opQuery {
			row("query "+op.title+", warm, latency", ours(op.id, "warm"), b.best(ads, op.id, "warm", false), false, 0.5)
			row("query "+op.title+", cold, latency", ours(op.id, "cold"), b.best(ads, op.id, "cold", false), false, 0.5)
		}
	}
	for _, op := range b.ops {
		if op.kind == opQuery || (op.kind == opHTTPExport && !httpAvailable) {
			continue
		}
		row(op.title+", warm, rows/s", ours(op.id, "warm"), b.best(ads, op.id, "warm", false), true, 1.5)
		row(op.title+", cold, rows/s", ours(op.id, "cold"), b.best(ads, op.id, "cold", false), true, 1.0)
	}
	atMost := func(what string, got, want float64) {
		fmt.Fprintf(w, "| %s: at most %s | %s | | %s |\n", what, fmtRatio(want), fmtRatio(got), verdict(got, want, false))
	}
	if m, ok := b.memory[target]; ok {
		got := float64(m.HeapPeak) / (1 << 20)
		v := "pass"
		if got >= 64 {
			v = fmt.Sprintf("MISS by %.2fx", got/64)
		}
		fmt.Fprintf(w, "| export heap peak: under 64 MiB | %.1f MiB | | %s |\n", got, v)
		grow := float64(m.HeapPeak) / float64(max(m.HeapPeakTenth, 1))
		v = "pass"
		if grow > 1.5 && m.HeapPeak-m.HeapPeakTenth > 8<<20 {
			v = fmt.Sprintf("MISS: grew %.2fx from the first tenth of the rows", grow)
		}
		fmt.Fprintf(w, "| export heap flat in N: peak over all rows vs over the first tenth | %.2fx | | %s |\n", grow, v)
	}
	var bestSize int64
	for _, ad := range ads {
		if sz, ok := b.sizes[ad.Name]; ok && ad.Baseline && (bestSize == 0 || sz < bestSize) {
			bestSize = sz
		}
	}
	if sz, ok := b.sizes[target]; ok && bestSize > 0 {
		atMost("file size vs smallest SQLite", float64(sz)/float64(bestSize), 1.0)
	}
	if b.cfg.n < 1_000_000 {
		fmt.Fprintf(w, "\nThe targets are set for 1,000,000 events; this run has %s, so its verdicts are indicative only.\n", thousands(int64(b.cfg.n)))
	}
}

// verdict says whether got meets want, and if not by how much it misses.
func verdict(got, want float64, higherIsBetter bool) string {
	switch {
	case math.IsNaN(got):
		return "not measured"
	case higherIsBetter && got >= want, !higherIsBetter && got <= want:
		return "pass"
	case higherIsBetter:
		return fmt.Sprintf("MISS by %.2fx (%.0f%% short)", want/got, 100*(1-got/want))
	default:
		return fmt.Sprintf("MISS by %.2fx (%.0f%% over)", got/want, 100*(got/want-1))
	}
}

// diskRead formats the median of the bytes read from disk by cold reads.
func diskRead(b []int64) string {
	if len(b) == 0 || slices.Min(b) < 0 {
		return "–"
	}
	c := slices.Clone(b)
	slices.Sort(c)
	return bytesIEC(c[len(c)/2])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// fmtSpread formats the ratio of r to best, followed by its range over
// the rounds when there are several.
func fmtSpread(r, best *result, rate bool) string {
	s := fmtRatio(ratio(r, best, rate))
	if lo, hi := spread(r, best, rate); len(r.times) > 1 && !math.IsNaN(lo) {
		s += " (" + fmtRange(lo, hi) + ")"
	}
	return s
}

// fmtRange formats the range of a ratio over rounds.
func fmtRange(lo, hi float64) string {
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return "–"
	}
	return strings.TrimSuffix(fmtRatio(lo), "x") + "–" + fmtRatio(hi)
}

func fmtRatio(r float64) string {
	if math.IsNaN(r) || math.IsInf(r, 0) {
		return "–"
	}
	switch {
	case r >= 100:
		return fmt.Sprintf("%.0fx", r)
	case r >= 10:
		return fmt.Sprintf("%.1fx", r)
	case r < 0.1: // two decimals would move a small ratio by a quarter
		return fmt.Sprintf("%.3fx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

// dur formats d with three significant digits.
func dur(d time.Duration) string {
	s := d.Seconds()
	switch {
	case s >= 1:
		return sig3(s) + " s"
	case s >= 1e-3:
		return sig3(s*1e3) + " ms"
	default:
		return sig3(s*1e6) + " µs"
	}
}

func sig3(v float64) string {
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

// rate formats events per second to three significant digits.
func rate(r float64) string {
	if r <= 0 {
		return "–"
	}
	mag := math.Pow(10, math.Floor(math.Log10(r))-2)
	return thousands(int64(math.Round(r/mag)*mag)) + "/s"
}

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i, c := range []byte(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, c)
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func bytesIEC(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// logCost is what the verifiable log costs a store's batched ingest,
// against its adapter without the log, measured in the same run.
type logCost struct {
	store         string
	with, without *result
	cpuWith       float64 // median CPU µs per event, with the log
	cpuWithout    float64
	cpu           float64 // the log's: the median over rounds of the difference
	bytesWith     float64 // bytes in use per event, with the log; NaN if unknown
	bytesWithout  float64
	bytes         float64 // the log's
}

// logCosts returns the log's cost for each store that has an adapter
// without its log in this run.
func (b *bench) logCosts(ads []Adapter) []logCost {
	var out []logCost
	for _, ad := range ads {
		if ad.LogOf == "" {
			continue
		}
		c := logCost{store: ad.LogOf, with: b.find(ad.LogOf, opLogCost, "write"), without: b.find(ad.Name, opLogCost, "write")}
		if c.with == nil || c.without == nil || len(c.with.times) == 0 || len(c.with.cpu) != len(c.without.cpu) {
			continue
		}
		n := float64(c.with.rows)
		perEvent := func(d time.Duration) float64 { return d.Seconds() * 1e6 / n }
		c.cpuWith, c.cpuWithout = perEvent(c.with.cpu.median()), perEvent(c.without.cpu.median())
		diff := make(sample, len(c.with.cpu))
		for i := range diff {
			diff[i] = c.with.cpu[i] - c.without.cpu[i]
		}
		c.cpu = perEvent(diff.median())
		c.bytesWith, c.bytesWithout, c.bytes = math.NaN(), math.NaN(), math.NaN()
		if u, ok := b.used[ad.LogOf]; ok {
			c.bytesWith = float64(u) / n
		}
		if u, ok := b.used[ad.Name]; ok {
			c.bytesWithout = float64(u) / n
		}
		c.bytes = c.bytesWith - c.bytesWithout
		out = append(out, c)
	}
	return out
}

// logCostTable reports what the verifiable log costs batched ingest.
func (b *bench) logCostTable(ads []Adapter) {
	costs := b.logCosts(ads)
	if len(costs) == 0 {
		return
	}
	w := b.out
	fmt.Fprintf(w, "\n## (c') What the verifiable log costs batched ingest\n\n")
	fmt.Fprintf(w, "Each store with its verifiable log (sequences, Merkle tree) against the same store without it, each ingesting all the events, 1,000 per Append, into a new store, %d rounds. Within a round the two alternate every %s events (each first in turn), so that both see the same seconds of the shared machine; a round's time of each is the sum of its Appends, the decoding of the generated events left out. The ratio is events per second with the log over without over all rounds (higher is better), then the range of the rounds' ratios. CPU is the process's user and system time of the Appends per event, and the log's CPU the median over rounds of the difference: process-wide, so the garbage collector's work for one store may land in the other's Appends, and on a loaded machine it is rough (a CPU profile attributes it better). Bytes are the pages in use per event after the last round.\n\n", b.cfg.ingestReps, thousands(logCostChunk))
	fmt.Fprintf(w, "| store | events/s with the log | without | x without | CPU µs/event with | without | the log's | bytes/event with | without | the log's |\n")
	fmt.Fprintf(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range costs {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.store,
			rate(c.with.sustained()), rate(c.without.sustained()), fmtSpread(c.with, c.without, true),
			sig3(c.cpuWith), sig3(c.cpuWithout), sig3(c.cpu), sig3(c.bytesWith), sig3(c.bytesWithout), sig3(c.bytes))
	}
}
