package encode_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// hostile is every character some format must escape: line breaks, quotes,
// backslashes, CEF's pipe and equals sign, other control characters, HTML
// characters, the JavaScript line separators and text that imitates a CEF
// header or extension key.
const hostile = "a\nb\r\nc|d=e\\f\"g\th\x1bi\x7fj<k>&l\u2028m\u2029 n CEF:0|x|y| suser=root é日本"

// testEvents returns the events of the golden files: the documented actions,
// an event with empty optional fields, a host's own action, an event whose
// every text field is hostile, then events with actor context (every field
// with IPv4, hostile values with IPv6, metadata alone). Each is valid, as
// stores keep them.
func testEvents(tb testing.TB) []auditevents.AuditEvent {
	tb.Helper()
	ts := time.Date(2025, 1, 2, 15, 4, 5, 123456000, time.UTC)
	events := []auditevents.AuditEvent{{
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KF", Timestamp: ts, Account: "acme", User: "alice@example.com",
		Action: auditevents.ActionCreated, ResourceKind: auditevents.KindConfiguration,
		ResourceName: "nginx", Configuration: "nginx:1", Description: "Created configuration nginx",
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KG", Timestamp: ts.Add(time.Second), Account: "acme", User: "bob",
		Action: auditevents.ActionModified, ResourceKind: auditevents.KindDestination, ResourceName: "s3-archive",
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KH", Timestamp: ts.Add(2 * time.Second), User: "carol",
		Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAPIKey,
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KJ", Timestamp: ts.Add(3 * time.Second), Account: "acme", User: "system",
		Action: auditevents.ActionStarted, ResourceKind: auditevents.KindRollout, ResourceName: "nginx",
		Configuration: "nginx", Description: "Rollout started",
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KK", Timestamp: ts.Add(4 * time.Second), Account: "acme", User: "dave",
		Action: "Rolled back.v2", ResourceKind: auditevents.KindUnknown, ResourceName: "a:b",
		Configuration: "team:web:12",
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KM", Timestamp: ts.Add(5 * time.Second), Account: hostile, User: hostile,
		Action: hostile, ResourceKind: auditevents.KindUser, ResourceName: hostile,
		Configuration: hostile + ":7", Description: hostile,
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KN", Timestamp: ts.Add(6 * time.Second), Account: "acme", User: "erin",
		Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, ResourceName: "nginx",
		Configuration: "nginx:2", Description: "Changed from the UI",
		IPAddress: "192.0.2.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		RequestID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Metadata:  map[string]string{"session": "s-42", "region": "eu-west-1", "client.version": "1.84.0"},
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KP", Timestamp: ts.Add(7 * time.Second), User: "frank",
		Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindAgent, ResourceName: "agent-1",
		IPAddress: "2001:db8::7", UserAgent: hostile, RequestID: hostile,
		Metadata: map[string]string{"note": hostile, "k.v": "a|b=c\\d"},
	}, {
		ID: "01JGKRQ3M8V63QXKKD6T5AR6KQ", Timestamp: ts.Add(8 * time.Second), User: "grace",
		Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAPIKey,
		Metadata: map[string]string{"job": "nightly"},
	}}
	for i := range events {
		if err := events[i].Validate(); err != nil {
			tb.Fatalf("test event %d: %v", i, err)
		}
	}
	return events
}

// encoders lists every encoder of the package with its golden file.
var encoders = []struct {
	name string
	enc  encode.Encoder
	file string
}{
	{"JSONLines", encode.JSONLines{}, "events.jsonl"},
	{"CloudEvents", encode.CloudEvents{}, "events.cloudevents.json"},
	{"CloudEventsSource", encode.CloudEvents{Source: "https://bindplane.example.com", TypePrefix: "com.example.audit"}, "events.cloudevents-source.json"},
	{"OCSF", encode.OCSF{}, "events.ocsf.jsonl"},
	{"OCSFProduct", encode.OCSF{Product: "Bindplane", Vendor: "observIQ"}, "events.ocsf-product.jsonl"},
	{"CEF", encode.CEF{}, "events.cef"},
	{"CEFDevice", encode.CEF{Vendor: "observIQ", Product: "Bindplane|BP", Version: "1.2\\3"}, "events.cef-device"},
}

// TestGolden checks each encoder's batch against its golden file in testdata:
// the bytes a receiver parses must not change unnoticed. Run with -update to
// rewrite them after an intended change, and review the diff.
func TestGolden(t *testing.T) {
	events := testEvents(t)
	for _, tc := range encoders {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.enc.AppendBatch(nil, events)
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the encoding:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

// TestBatchIsEventsInOrder checks that a batch is each event's own encoding
// with the format's framing, and that appending keeps what dst held.
func TestBatchIsEventsInOrder(t *testing.T) {
	events := testEvents(t)
	for _, tc := range encoders {
		t.Run(tc.name, func(t *testing.T) {
			var want []byte
			want = append(want, "prefix"...)
			open, sep, end := "", "\n", "\n"
			if strings.HasPrefix(tc.name, "CloudEvents") {
				open, sep, end = "[", ",", "]"
			}
			want = append(want, open...)
			for i := range events {
				if i > 0 {
					want = append(want, sep...)
				}
				want = tc.enc.AppendEvent(want, &events[i])
			}
			want = append(want, end...)
			if got := tc.enc.AppendBatch([]byte("prefix"), events); !bytes.Equal(got, want) {
				t.Errorf("batch:\n%s\nwant:\n%s", got, want)
			}
			empty := tc.enc.AppendBatch(nil, nil)
			if wantEmpty := strings.TrimSuffix(open+end, "\n"); string(empty) != wantEmpty {
				t.Errorf("empty batch = %q, want %q", empty, wantEmpty)
			}
		})
	}
}

// TestOneLinePerEvent checks that no field can break an event over two
// lines: a receiver of a line format splits on line feeds, and a syslog relay
// would cut a CEF record there.
func TestOneLinePerEvent(t *testing.T) {
	events := testEvents(t)
	for _, tc := range encoders {
		t.Run(tc.name, func(t *testing.T) {
			for i := range events {
				rec := tc.enc.AppendEvent(nil, &events[i])
				if j := bytes.IndexAny(rec, "\r\n"); j >= 0 {
					t.Errorf("event %d: line break at byte %d of %q", i, j, rec)
				}
			}
		})
	}
}

// TestJSONLinesRoundTrip checks that every line decodes, with encoding/json,
// to the event as stored.
func TestJSONLinesRoundTrip(t *testing.T) {
	events := testEvents(t)
	lines := splitLines(t, encode.JSONLines{}.AppendBatch(nil, events), len(events))
	for i, line := range lines {
		var got auditevents.AuditEvent
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if want := auditevents.Normalize(events[i]); !got.Equal(&want) {
			t.Errorf("line %d = %+v, want %+v", i, got, want)
		}
	}
}

// cloudEvent is a structured-mode CloudEvent as a receiver decodes it.
type cloudEvent struct {
	SpecVersion     string                 `json:"specversion"`
	ID              string                 `json:"id"`
	Source          string                 `json:"source"`
	Type            string                 `json:"type"`
	Subject         *string                `json:"subject"`
	Time            time.Time              `json:"time"`
	DataContentType string                 `json:"datacontenttype"`
	Data            auditevents.AuditEvent `json:"data"`
}

// TestCloudEventsAttributes decodes a batch as a CloudEvents receiver does and
// checks each attribute against the event, the type's action part decoded.
func TestCloudEventsAttributes(t *testing.T) {
	events := testEvents(t)
	for _, tc := range []struct {
		name                 string
		enc                  encode.CloudEvents
		wantSource, wantType string
	}{
		{"defaults", encode.CloudEvents{}, encode.DefaultCloudEventsSource, encode.DefaultCloudEventsTypePrefix},
		{"set", encode.CloudEvents{Source: "urn:x", TypePrefix: "com.example"}, "urn:x", "com.example"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []cloudEvent
			if err := json.Unmarshal(tc.enc.AppendBatch(nil, events), &got); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(events) {
				t.Fatalf("%d events, want %d", len(got), len(events))
			}
			for i, ce := range got {
				e := events[i]
				if ce.SpecVersion != "1.0" || ce.ID != e.ID || ce.Source != tc.wantSource || ce.DataContentType != "application/json" {
					t.Errorf("event %d: specversion %q id %q source %q datacontenttype %q", i, ce.SpecVersion, ce.ID, ce.Source, ce.DataContentType)
				}
				if !ce.Time.Equal(e.Timestamp) {
					t.Errorf("event %d: time %v, want %v", i, ce.Time, e.Timestamp)
				}
				if !ce.Data.Equal(&e) {
					t.Errorf("event %d: data %+v, want %+v", i, ce.Data, e)
				}
				switch {
				case e.ResourceName == "" && ce.Subject != nil:
					t.Errorf("event %d: subject %q, want none", i, *ce.Subject)
				case e.ResourceName != "" && (ce.Subject == nil || *ce.Subject != e.ResourceName):
					t.Errorf("event %d: subject %v, want %q", i, ce.Subject, e.ResourceName)
				}
				prefix, rest, ok := strings.Cut(ce.Type, "."+string(e.ResourceKind)+".")
				if !ok || prefix != tc.wantType {
					t.Fatalf("event %d: type %q does not start with %q.%s.", i, ce.Type, tc.wantType, e.ResourceKind)
				}
				if strings.ContainsAny(rest, ". \n") {
					t.Errorf("event %d: action part %q of the type holds a dot, space or line feed", i, rest)
				}
				if action, err := url.PathUnescape(rest); err != nil || action != string(e.Action) {
					t.Errorf("event %d: type's action %q decodes to %q, %v; want %q", i, rest, action, err, e.Action)
				}
			}
		})
	}
}

// TestOCSFMapping decodes each OCSF line and checks it against the mapping
// the OCSF type documents, written out here independently.
func TestOCSFMapping(t *testing.T) {
	events := testEvents(t)
	enc := encode.OCSF{Product: "Bindplane", Vendor: "observIQ"}
	lines := splitLines(t, enc.AppendBatch(nil, events), len(events))
	activity := func(a auditevents.Action) (float64, string) {
		switch a {
		case "Created":
			return 1, "Create"
		case "Modified":
			return 3, "Update"
		case "Deleted":
			return 4, "Delete"
		}
		return 99, string(a)
	}
	for i, line := range lines {
		e := events[i]
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		id, name := activity(e.Action)
		want := map[string]any{
			"activity_id": id, "activity_name": name,
			"category_uid": 6.0, "category_name": "Application Activity",
			"class_uid": 6003.0, "class_name": "API Activity",
			"type_uid": 600300 + id, "type_name": "API Activity: " + name,
			"severity_id": 1.0, "severity": "Informational",
			"status_id": 1.0, "status": "Success",
			"time": float64(e.Timestamp.UnixMilli()), "timezone_offset": 0.0,
			"actor":        map[string]any{"user": map[string]any{"name": e.User}},
			"api":          map[string]any{"operation": string(e.Action)},
			"src_endpoint": map[string]any{"svc_name": "Bindplane"},
		}
		metadata := map[string]any{
			"uid": e.ID, "original_time": e.Timestamp.Format(auditevents.TimestampLayout),
			"version": "1.3.0", "product": map[string]any{"name": "Bindplane", "vendor_name": "observIQ"},
		}
		if e.Account != "" {
			metadata["tenant_uid"] = e.Account
		}
		want["metadata"] = metadata
		if e.Description != "" {
			want["message"] = e.Description
		}
		resource := map[string]any{"type": string(e.ResourceKind)}
		if e.ResourceName != "" {
			resource["name"] = e.ResourceName
		}
		resources := []any{resource}
		if e.Configuration != "" {
			cfg := map[string]any{"type": "Configuration", "name": e.Configuration}
			if j := strings.LastIndexByte(e.Configuration, ':'); j >= 0 {
				if _, err := strconv.Atoi(e.Configuration[j+1:]); err == nil {
					cfg["name"], cfg["version"] = e.Configuration[:j], e.Configuration[j+1:]
				}
			}
			resources = append(resources, cfg)
		}
		want["resources"] = resources
		if e.IPAddress != "" {
			want["src_endpoint"].(map[string]any)["ip"] = e.IPAddress
		}
		if e.UserAgent != "" {
			want["http_request"] = map[string]any{"user_agent": e.UserAgent}
		}
		if e.RequestID != "" {
			want["api"].(map[string]any)["request"] = map[string]any{"uid": e.RequestID}
		}
		if len(e.Metadata) > 0 {
			m := map[string]any{}
			for k, v := range e.Metadata {
				m[k] = v
			}
			want["unmapped"] = map[string]any{"metadata": m}
		}
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("event %d:\ngot  %s\nwant %s", i, gotJSON, wantJSON)
		}
	}
}

// TestCEFParses reads each CEF line with a parser written from the CEF
// specification (split the header on unescaped pipes, the extension on
// " key=" where the equals sign is unescaped) and checks every field comes
// back, control characters other than line breaks as spaces.
func TestCEFParses(t *testing.T) {
	events := testEvents(t)
	enc := encode.CEF{Vendor: "observIQ", Product: "Bindplane|BP", Version: "1.2\\3"}
	lines := splitLines(t, enc.AppendBatch(nil, events), len(events))
	for i, line := range lines {
		e := events[i]
		header, ext := parseCEF(t, string(line))
		wantHeader := []string{"CEF:0", "observIQ", "Bindplane|BP", "1.2\\3",
			headerText(string(e.ResourceKind) + ":" + string(e.Action)),
			headerText(string(e.ResourceKind) + " " + string(e.Action)), "3"}
		if strings.Join(header, "\x00") != strings.Join(wantHeader, "\x00") {
			t.Errorf("event %d: header %q, want %q", i, header, wantHeader)
		}
		want := map[string]string{
			"rt": strconv.FormatInt(e.Timestamp.UnixMilli(), 10), "externalId": e.ID,
			"suser": extText(e.User), "act": extText(string(e.Action)),
			"cs2Label": "resourceKind", "cs2": string(e.ResourceKind),
		}
		for _, f := range []struct{ n, label, v string }{
			{"cs1", "account", e.Account}, {"cs3", "resourceName", e.ResourceName},
			{"cs4", "configuration", e.Configuration}, {"msg", "", e.Description},
			{"requestClientApplication", "", e.UserAgent}, {"cs5", "requestId", e.RequestID},
		} {
			if f.v == "" {
				continue
			}
			want[f.n] = extText(f.v)
			if f.label != "" {
				want[f.n+"Label"] = f.label
			}
		}
		switch {
		case strings.Contains(e.IPAddress, "."):
			want["src"] = e.IPAddress
		case e.IPAddress != "":
			want["c6a2Label"], want["c6a2"] = "Source IPv6 Address", e.IPAddress
		}
		if len(e.Metadata) > 0 {
			want["cs6Label"], want["cs6"] = "metadata", extText(string(auditevents.AppendMetadataJSON(nil, e.Metadata)))
			var m map[string]string
			if err := json.Unmarshal([]byte(ext["cs6"]), &m); err != nil || len(m) != len(e.Metadata) {
				t.Errorf("event %d: cs6 %q does not decode to the metadata: %v", i, ext["cs6"], err)
			}
		}
		gotJSON, _ := json.Marshal(ext)
		wantJSON, _ := json.Marshal(want)
		if !bytes.Equal(gotJSON, wantJSON) {
			t.Errorf("event %d: extension\ngot  %s\nwant %s", i, gotJSON, wantJSON)
		}
	}
}

// headerText is s as a CEF header field reads back: control characters,
// line breaks included, become spaces.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// extText is s as a CEF extension value reads back: line breaks kept,
// other control characters become spaces.
func extText(s string) string {
	return strings.Map(func(r rune) rune {
		if r != '\n' && r != '\r' && (r < 0x20 || r == 0x7f) {
			return ' '
		}
		return r
	}, s)
}

// parseCEF splits a CEF line into its seven header fields and its extension's
// key-value pairs, unescaping both.
func parseCEF(tb testing.TB, line string) ([]string, map[string]string) {
	tb.Helper()
	var header []string
	var field strings.Builder
	i := 0
	for ; i < len(line) && len(header) < 7; i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line) && (line[i+1] == '\\' || line[i+1] == '|'):
			field.WriteByte(line[i+1])
			i++
		case c == '\\':
			tb.Fatalf("unknown header escape at %d in %q", i, line)
		case c == '|':
			header = append(header, field.String())
			field.Reset()
		default:
			field.WriteByte(c)
		}
	}
	if len(header) != 7 {
		tb.Fatalf("%d header fields in %q", len(header), line)
	}
	// In the extension, a key starts after a space and ends at the first
	// unescaped equals sign; a value runs to the next such key.
	ext := map[string]string{}
	rest := line[i:]
	var key string
	var value strings.Builder
	flush := func() {
		if key != "" {
			ext[key] = value.String()
		}
		value.Reset()
	}
	for j := 0; j < len(rest); j++ {
		c := rest[j]
		if c == '\\' {
			if j+1 >= len(rest) {
				tb.Fatalf("trailing backslash in %q", rest)
			}
			switch n := rest[j+1]; n {
			case '\\', '=':
				value.WriteByte(n)
			case 'n':
				value.WriteByte('\n')
			case 'r':
				value.WriteByte('\r')
			default:
				tb.Fatalf("unknown extension escape \\%c in %q", n, rest)
			}
			j++
			continue
		}
		if j == 0 || c == ' ' {
			start := j
			if c == ' ' {
				start++
			}
			k := start
			for k < len(rest) && isKeyChar(rest[k]) {
				k++
			}
			if k > start && k < len(rest) && rest[k] == '=' {
				flush()
				key = rest[start:k]
				j = k
				continue
			}
		}
		if c == '=' {
			tb.Fatalf("unescaped equals sign at %d in %q", j, rest)
		}
		value.WriteByte(c)
	}
	flush()
	return header, ext
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// TestValidateRefusesWhatNoFormatCanCarry checks the guarantee the encoders
// rely on: an event holding a NUL byte or invalid UTF-8 never reaches a store,
// so no format has to decide how to write one.
func TestValidateRefusesWhatNoFormatCanCarry(t *testing.T) {
	for _, tc := range []struct {
		name  string
		set   func(*auditevents.AuditEvent)
		field string
	}{
		{"NUL in user", func(e *auditevents.AuditEvent) { e.User = "a\x00b" }, "user"},
		{"NUL in description", func(e *auditevents.AuditEvent) { e.Description = "a\x00" }, "description"},
		{"invalid UTF-8 in action", func(e *auditevents.AuditEvent) { e.Action = "\xff" }, "action"},
		{"invalid UTF-8 in account", func(e *auditevents.AuditEvent) { e.Account = "a\xc3" }, "account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := testEvents(t)[0]
			tc.set(&e)
			var ee *auditevents.EventError
			if err := e.Validate(); !errors.As(err, &ee) || ee.Field != tc.field {
				t.Errorf("Validate() = %v, want an EventError for %s", err, tc.field)
			}
		})
	}
}

// splitLines splits a line format's batch into lines, each ended by a line
// feed, and checks there are n of them.
func splitLines(tb testing.TB, batch []byte, n int) [][]byte {
	tb.Helper()
	if !bytes.HasSuffix(batch, []byte("\n")) {
		tb.Fatalf("batch does not end with a line feed: %q", batch)
	}
	lines := bytes.Split(batch[:len(batch)-1], []byte("\n"))
	if len(lines) != n {
		tb.Fatalf("%d lines, want %d", len(lines), n)
	}
	return lines
}

// BenchmarkAppendEvent measures each encoder on a typical event, beside the
// JSON API's own encoder (AppendJSON) as the baseline of the same run. Besides
// ns/op, which counts the time other processes hold the cores, it reports
// cpu-ns/op, the process's CPU time per event, which on a busy machine is
// the steadier figure.
func BenchmarkAppendEvent(b *testing.B) {
	e := testEvents(b)[0]
	run := func(b *testing.B, appendEvent func([]byte) []byte) {
		buf := make([]byte, 0, 4096)
		b.ReportAllocs()
		cpu0, ok := cpuTime()
		for b.Loop() {
			buf = appendEvent(buf[:0])
		}
		if cpu1, _ := cpuTime(); ok {
			b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
		}
		b.SetBytes(int64(len(buf)))
	}
	b.Run("AppendJSON", func(b *testing.B) {
		run(b, func(buf []byte) []byte { return e.AppendJSON(buf) })
	})
	for _, tc := range encoders {
		b.Run(tc.name, func(b *testing.B) {
			run(b, func(buf []byte) []byte { return tc.enc.AppendEvent(buf, &e) })
		})
	}
}

// FuzzEncode checks, for any valid event, what TestOneLinePerEvent and the
// round-trip tests check for the hostile one: one line per event, JSON that
// decodes to the event, and CEF that parses back to its fields.
func FuzzEncode(f *testing.F) {
	f.Add("alice", "Created", "nginx", "nginx:1", "acme", "a description")
	f.Add(hostile, hostile, hostile, hostile, hostile, hostile)
	f.Add("a=b\\", "x|y", "\r\n", "=", "\\", "\\n")
	f.Fuzz(func(t *testing.T, user, action, name, configuration, account, description string) {
		e := auditevents.AuditEvent{
			ID: "01JGKRQ3M8V63QXKKD6T5AR6KF", Timestamp: time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
			Account: account, User: user, Action: auditevents.Action(action), ResourceKind: auditevents.KindAgent,
			ResourceName: name, Configuration: configuration, Description: description,
		}
		if len(name)%2 == 1 { // half the inputs with actor context, its text from the same strings
			e.IPAddress, e.UserAgent, e.RequestID = "2001:db8::1", user, description
			e.Metadata = map[string]string{"note": account}
		}
		if e.Validate() != nil {
			return
		}
		for _, tc := range encoders {
			if rec := tc.enc.AppendEvent(nil, &e); bytes.ContainsAny(rec, "\r\n") {
				t.Fatalf("%s: line break in %q", tc.name, rec)
			}
		}
		var got auditevents.AuditEvent
		if err := json.Unmarshal(encode.JSONLines{}.AppendEvent(nil, &e), &got); err != nil || !got.Equal(&e) {
			t.Fatalf("JSON Lines decodes to %+v, %v", got, err)
		}
		var ce cloudEvent
		if err := json.Unmarshal(encode.CloudEvents{}.AppendEvent(nil, &e), &ce); err != nil || !ce.Data.Equal(&e) {
			t.Fatalf("CloudEvents data %+v, %v", ce.Data, err)
		}
		var ocsf map[string]any
		if err := json.Unmarshal(encode.OCSF{}.AppendEvent(nil, &e), &ocsf); err != nil {
			t.Fatal(err)
		}
		header, ext := parseCEF(t, string(encode.CEF{}.AppendEvent(nil, &e)))
		if header[4] != headerText("Agent:"+action) || ext["suser"] != extText(user) || ext["msg"] != extText(description) || ext["cs1"] != extText(account) {
			t.Fatalf("CEF header %q extension %q", header, ext)
		}
		if e.HasActor() && (ext["requestClientApplication"] != extText(user) || ext["cs5"] != extText(description) || ext["c6a2"] != e.IPAddress) {
			t.Fatalf("CEF actor fields in extension %q", ext)
		}
	})
}

// TestCEFAllocatesNothing checks that CEF encodes every test event, its
// metadata too, into a buffer with room without allocating: the metadata's
// JSON is escaped from a buffer on the stack.
func TestCEFAllocatesNothing(t *testing.T) {
	events := testEvents(t)
	buf := make([]byte, 0, 8192)
	for _, tc := range encoders {
		if _, ok := tc.enc.(encode.CEF); !ok {
			continue
		}
		for i := range events {
			if n := testing.AllocsPerRun(20, func() { buf = tc.enc.AppendEvent(buf[:0], &events[i]) }); n != 0 {
				t.Errorf("%s: event %d: %v allocations per event, want 0", tc.name, i, n)
			}
		}
	}
}
