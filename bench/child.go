package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/auditevents/auditevents"
)

// exportMemory is what the export of every event costs in memory, measured
// in a child process that opens the store and exports, and does nothing
// else, so that the numbers are the export's alone.
type exportMemory struct {
	Rows int `json:"rows"`
	// HeapBefore is the heap (bytes of heap objects) after opening the
	// store, before the export; for memstore it holds all the events.
	HeapBefore uint64 `json:"heapBefore"`
	// HeapPeak is the largest heap sampled during the export (every
	// millisecond, and after each tenth of the rows).
	HeapPeak uint64 `json:"heapPeak"`
	// HeapPeakTenth is the largest heap sampled during the first tenth of
	// the rows: when the export's memory is flat in N, it is about
	// HeapPeak.
	HeapPeakTenth uint64 `json:"heapPeakTenth"`
	// RSSBefore is the resident set before the export.
	RSSBefore uint64 `json:"rssBefore"`
	// RSSPeak is the peak resident set (VmHWM) during the export, when
	// the kernel let the child reset it before the export (RSSPeakReset);
	// else the child's whole life's.
	RSSPeak      uint64 `json:"rssPeak"`
	RSSPeakReset bool   `json:"rssPeakReset"`
	// RSSAnon and RSSFile split the resident set at the end of the export
	// into anonymous memory and file pages mapped (a memory-mapped store's
	// pages count here, and the kernel can reclaim them).
	RSSAnon uint64 `json:"rssAnon"`
	RSSFile uint64 `json:"rssFile"`
}

// measureExportMemory runs this program again as a child that measures the
// export of the store in dir.
func (b *bench) measureExportMemory(ad Adapter, dir string) (*exportMemory, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, "-export-child", ad.Name, "-dir", dir, "-n", strconv.Itoa(b.cfg.n), "-seed", strconv.FormatUint(b.cfg.seed, 10))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var m exportMemory
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, fmt.Errorf("reading the child's report %q: %w", out, err)
	}
	return &m, nil
}

// exportChild is the child's side of measureExportMemory: it opens the store
// (for memstore, fills it with the generated events), exports every event
// as CSV to io.Discard, and prints an exportMemory as JSON.
func exportChild(cfg config) error {
	ctx := context.Background()
	var ad *Adapter
	for _, a := range adapters() {
		if a.Name == cfg.child {
			ad = &a
		}
	}
	if ad == nil {
		return fmt.Errorf("no store %q", cfg.child)
	}
	s, err := ad.Open(cfg.dir)
	if err != nil {
		return err
	}
	defer s.Close()
	if !ad.Persistent {
		data := newGenerator(cfg.seed).Events(cfg.n)
		for i := 0; i < len(data); i += 1000 {
			if err := s.Append(ctx, data[i:min(i+1000, len(data))]...); err != nil {
				return err
			}
		}
	}
	runtime.GC()
	debug.FreeOSMemory()

	var m exportMemory
	m.HeapBefore = heapBytes()
	m.RSSBefore = procStatus()["VmRSS"]
	// Writing 5 to clear_refs resets VmHWM to the current resident set.
	m.RSSPeakReset = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil

	var (
		mu   sync.Mutex
		peak uint64
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	observe := func() {
		h := heapBytes()
		mu.Lock()
		peak = max(peak, h)
		mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				observe()
			}
		}
	}()
	cw := auditevents.NewCSVWriter(io.Discard, nil)
	tenth := max(cfg.n/10, 1)
	for e, err := range s.Query(ctx, auditevents.Query{}) {
		if err != nil {
			return err
		}
		if err := cw.Write(&e); err != nil {
			return err
		}
		m.Rows++
		if m.Rows%tenth == 0 {
			observe()
			if m.Rows == tenth {
				mu.Lock()
				m.HeapPeakTenth = peak
				mu.Unlock()
			}
		}
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	observe()
	close(done)
	wg.Wait()
	m.HeapPeak = peak
	st := procStatus()
	m.RSSPeak, m.RSSAnon, m.RSSFile = st["VmHWM"], st["RssAnon"], st["RssFile"]
	return json.NewEncoder(os.Stdout).Encode(&m)
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

// heapBytes returns the bytes of heap objects, live or not yet swept: what
// MemStats.HeapAlloc reports.
func heapBytes() uint64 {
	metrics.Read(heapSample)
	return heapSample[0].Value.Uint64()
}

// procStatus returns the memory lines of /proc/self/status in bytes, or an
// empty map where there is no such file.
func procStatus() map[string]uint64 {
	out := map[string]uint64{}
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(rest)
		if !ok || len(fields) != 2 || fields[1] != "kB" {
			continue
		}
		if kb, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
			out[name] = kb << 10
		}
	}
	return out
}
