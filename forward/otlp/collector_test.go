package otlp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/auditevents/auditevents/forward/otlp"
)

// collectorConfig is the pipeline of the real collector: OTLP over HTTP in,
// the batch processor, and the file exporter, which writes every request as
// a line of OTLP JSON.
const collectorConfig = `receivers:
  otlp:
    protocols:
      http:
        endpoint: %s
processors:
  batch:
exporters:
  file:
    path: %s
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    logs:
      receivers: [otlp]
      processors: [batch]
      exporters: [file]
`

// TestCollector sends events to a real OpenTelemetry Collector, built by
// .ci/setup.d/otelcol.sh, and checks every field of every record the
// collector writes out. It skips unless AUDITEVENTS_OTELCOL names the binary.
func TestCollector(t *testing.T) {
	bin := os.Getenv("AUDITEVENTS_OTELCOL")
	if bin == "" {
		t.Skip("AUDITEVENTS_OTELCOL is not set: .ci/setup.d/otelcol.sh builds a collector and sets it")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "logs.jsonl")
	addr := freeAddr(t)
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, collectorConfig, addr, out), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", "file:"+config)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	var logs bytes.Buffer
	ready := make(chan struct{})
	go func() {
		// The collector logs to stderr; it is ready once it says so.
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logs.Write(sc.Bytes())
			logs.WriteByte('\n')
			if strings.Contains(sc.Text(), "Everything is ready") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, stderr)
		exited <- cmd.Wait()
	}()
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("collector exited before it was ready: %v\n%s", err, logs.String())
	case <-ctx.Done():
		t.Fatalf("collector not ready: %v", ctx.Err())
	}

	now := time.Date(2025, 1, 3, 0, 0, 0, 0, time.UTC)
	events := testEvents(t)
	sink := newSink(t, &otlp.Options{Endpoint: "http://" + addr, Now: func() time.Time { return now }})
	if err := sink.Send(ctx, events[:1]); err != nil {
		t.Fatalf("Send = %v", err)
	}
	if err := sink.Send(ctx, events[1:]); err != nil {
		t.Fatalf("Send = %v", err)
	}

	// A collector that stops flushes its batch and its file.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("collector: %v", err)
		}
	case <-ctx.Done():
		t.Fatalf("collector did not stop: %v", ctx.Err())
	}

	records := readCollectorFile(t, out)
	if len(records) != len(events) {
		t.Fatalf("collector wrote %d records, want %d", len(records), len(events))
	}
	for i, e := range events {
		r, ok := records[e.ID]
		if !ok {
			t.Errorf("event %s not written by the collector", e.ID)
			continue
		}
		checkRecord(t, i, r, e, now)
	}
}

// readCollectorFile decodes the file exporter's OTLP JSON lines with the
// official types and returns the records by log.record.uid, checking the
// resource and the scope of each.
func readCollectorFile(tb testing.TB, path string) map[string]*logspb.LogRecord {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	records := map[string]*logspb.LogRecord{}
	for line := range bytes.Lines(data) {
		var req collogpb.ExportLogsServiceRequest
		if err := protojson.Unmarshal(line, &req); err != nil {
			tb.Fatalf("line %q: %v", line, err)
		}
		for _, rl := range req.ResourceLogs {
			if got := stringAttrs(tb, rl.Resource.GetAttributes()); got["service.name"] != "auditevents" || len(got) != 1 {
				tb.Errorf("resource attributes %v", got)
			}
			for _, sl := range rl.ScopeLogs {
				if sl.Scope.GetName() != otlp.ScopeName {
					tb.Errorf("scope %q", sl.Scope.GetName())
				}
				for _, r := range sl.LogRecords {
					id := stringAttrs(tb, r.Attributes)["log.record.uid"]
					if _, dup := records[id]; dup {
						tb.Errorf("record %s written twice", id)
					}
					records[id] = r
				}
			}
		}
	}
	return records
}

// freeAddr returns a loopback address no one listens on.
func freeAddr(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
