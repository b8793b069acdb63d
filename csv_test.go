package auditevents_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/auditevents/auditevents"
)

func readCSV(tb testing.TB, data []byte) [][]string {
	tb.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = len(auditevents.CSVColumns())
	records, err := r.ReadAll()
	if err != nil {
		tb.Fatalf("encoding/csv cannot read the output: %v\n%q", err, data)
	}
	return records
}

func TestCSV(t *testing.T) {
	e := sample()
	e.Description = "line one\nline \"two\", with a comma"
	e.ResourceName = " leading space"
	var buf bytes.Buffer
	n, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent{e, sample()}), nil)
	if err != nil || n != 2 {
		t.Fatalf("WriteCSV = %d, %v", n, err)
	}
	records := readCSV(t, buf.Bytes())
	if got, want := records[0], auditevents.CSVColumns(); !slices.Equal(got, want) {
		t.Errorf("header %v, want %v", got, want)
	}
	want := []string{e.ID, "2025-01-02T15:04:05.123456Z", "acme", "alice@example.com", "Modified", "Configuration", " leading space", "nginx:3", e.Description}
	if got := records[1]; !slices.Equal(got, want) {
		t.Errorf("row\n got  %q\n want %q", got, want)
	}
	if len(records) != 3 {
		t.Errorf("%d records, want header and 2 rows", len(records))
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\r\n")) {
		t.Error("rows do not end with CRLF (RFC 4180)")
	}
}

func TestCSVEmpty(t *testing.T) {
	var buf bytes.Buffer
	if _, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent(nil)), nil); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), strings.Join(auditevents.CSVColumns(), ",")+"\r\n"; got != want {
		t.Errorf("empty export %q, want the header alone %q", got, want)
	}
}

func TestCSVFormulas(t *testing.T) {
	tests := []struct {
		in, neutral string
	}{
		{"=1+2", "'=1+2"},
		{"+SUM(A1)", "'+SUM(A1)"},
		{"-2", "'-2"},
		{"@cmd", "'@cmd"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"\nx", "'\nx"},
		{"＝1+2", "'＝1+2"},
		{"＋1", "'＋1"},
		{"－1", "'－1"},
		{"＠x", "'＠x"},
		{"a=b", "a=b"},
		{"'quoted", "'quoted"},
		{"", ""},
		{"élan", "élan"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e := sample()
			e.Description = tt.in
			for _, opts := range []*auditevents.CSVOptions{nil, {AllowFormulas: true}} {
				var buf bytes.Buffer
				if _, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent{e}), opts); err != nil {
					t.Fatal(err)
				}
				want := tt.neutral
				if opts != nil {
					want = tt.in
				}
				if got := readCSV(t, buf.Bytes())[1][8]; got != want {
					t.Errorf("opts %+v: cell %q, want %q", opts, got, want)
				}
			}
		})
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n -= len(p); w.n < 0 {
		return 0, errors.New("disk full")
	}
	return len(p), nil
}

func TestCSVErrors(t *testing.T) {
	events := make([]auditevents.AuditEvent, 5000)
	for i := range events {
		events[i] = sample()
	}
	_, err := auditevents.WriteCSV(&failingWriter{n: 100 << 10}, seqOf(events), nil)
	if err == nil || err.Error() != "disk full" {
		t.Errorf("WriteCSV to a failing writer = %v, want its error", err)
	}
	boom := errors.New("store failed")
	seq := func(yield func(auditevents.AuditEvent, error) bool) {
		if yield(sample(), nil) {
			yield(auditevents.AuditEvent{}, boom)
		}
	}
	var buf bytes.Buffer
	n, err := auditevents.WriteCSV(&buf, seq, nil)
	if !errors.Is(err, boom) || n != 1 {
		t.Errorf("WriteCSV = %d, %v; want 1, the sequence's error", n, err)
	}
}

func FuzzCSV(f *testing.F) {
	f.Add("alice", "=cmd|' /C calc'!A0", "nginx:3", false)
	f.Add("", "a,\"b\"\r\nc", "", true)
	f.Add(" x", "＋1", "\t", false)
	f.Fuzz(func(t *testing.T, user, description, configuration string, allow bool) {
		e := sample()
		e.User, e.Description, e.Configuration = user, description, configuration
		// With the actor columns, the user agent and request ID hold the
		// same text, and a metadata value too.
		actor := len(user)%2 == 1
		if actor {
			e.UserAgent, e.RequestID = user, configuration
			e.Metadata = map[string]string{"note": description}
		}
		if e.Validate() != nil {
			return // stores never hold such an event
		}
		var buf bytes.Buffer
		if _, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent{e}), &auditevents.CSVOptions{AllowFormulas: allow, ActorColumns: actor}); err != nil {
			t.Fatal(err)
		}
		r := csv.NewReader(&buf)
		r.LazyQuotes = false
		records, err := r.ReadAll()
		if err != nil {
			t.Fatalf("encoding/csv cannot read %q: %v", buf.String(), err)
		}
		if len(records) != 2 {
			t.Fatalf("%d records, want 2", len(records))
		}
		row := records[1]
		cells, columns := []string{e.User, e.Configuration, e.Description}, []int{3, 7, 8}
		if actor {
			cells, columns = append(cells, e.UserAgent, e.RequestID), append(columns, 10, 11)
			var m map[string]string
			if err := json.Unmarshal([]byte(row[12]), &m); err != nil || m["note"] != description {
				t.Fatalf("metadata cell %q decodes to %q, %v; want the note %q", row[12], m, err, description)
			}
		}
		for i, cell := range cells {
			got := row[columns[i]]
			// The prefix is added exactly to the cells that would run as
			// formulas, unless formulas are allowed.
			want := cell
			if !allow && startsFormula(cell) {
				want = "'" + cell
			}
			// encoding/csv reads \r\n inside a quoted field as \n.
			want = strings.ReplaceAll(want, "\r\n", "\n")
			if got != want {
				t.Fatalf("cell %q, want %q", got, want)
			}
		}
	})
}

// startsFormula reports whether a spreadsheet would run s as a formula, as
// OWASP's guidance on CSV injection lists the characters.
func startsFormula(s string) bool {
	for _, p := range []string{"=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// seqOf returns the events as a query result would stream them.
func seqOf(events []auditevents.AuditEvent) func(func(auditevents.AuditEvent, error) bool) {
	return func(yield func(auditevents.AuditEvent, error) bool) {
		for _, e := range events {
			if !yield(e, nil) {
				return
			}
		}
	}
}
