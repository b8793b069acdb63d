package auditevents

import (
	"bufio"
	"io"
	"iter"
	"slices"
	"strings"
	"unicode/utf8"
)

// csvColumns are the columns of the CSV export, in order.
var csvColumns = [...]string{
	"id", "timestamp", "account", "user", "action",
	"resourceKind", "resourceName", "configuration", "description",
}

// csvActorColumns are the columns CSVOptions.ActorColumns adds, in order.
var csvActorColumns = [...]string{"ipAddress", "userAgent", "requestId", "metadata"}

// csvHeaderRow and csvActorHeaderRow are the header rows, written once per
// export.
var (
	csvHeaderRow      = strings.Join(csvColumns[:], ",") + "\r\n"
	csvActorHeaderRow = strings.Join(append(csvColumns[:], csvActorColumns[:]...), ",") + "\r\n"
)

// CSVColumns returns the columns of the CSV export, in order: id, timestamp,
// account, user, action, resourceKind, resourceName, configuration,
// description. The names are the JSON field names. The order is part of this
// module's compatibility promise: a column may be added at the end in a new
// major version, never moved or removed silently. The caller may modify the
// returned slice.
func CSVColumns() []string { return slices.Clone(csvColumns[:]) }

// CSVActorColumns returns the columns that [CSVOptions.ActorColumns] adds
// after those of [CSVColumns], in order: ipAddress, userAgent, requestId,
// metadata. The metadata cell is a JSON object with its keys sorted
// ([AppendMetadataJSON]), empty when the event has none. The order is fixed
// as CSVColumns' is. The caller may modify the returned slice.
func CSVActorColumns() []string { return slices.Clone(csvActorColumns[:]) }

// CSVOptions configures a [CSVWriter]. The zero value, like a nil
// *CSVOptions, means the defaults given for each field.
type CSVOptions struct {
	// AllowFormulas turns off formula neutralisation. By default, a cell
	// that a spreadsheet would run as a formula (one that starts with =, +,
	// -, @, a tab, a carriage return or a line feed, or the full-width forms
	// ＝ ＋ － ＠) is written with a leading single quote, as OWASP's
	// guidance on CSV injection recommends. Set it only when the file is
	// read by programs, never opened in a spreadsheet.
	AllowFormulas bool
	// ActorColumns adds the columns of [CSVActorColumns] after the spec's,
	// carrying the actor context. By default the export has the spec's
	// columns only, whatever the events hold.
	ActorColumns bool
}

// CSVWriter writes events as CSV (RFC 4180): a header row of [CSVColumns],
// then one row per event, with timestamps in [TimestampLayout]. A field is
// quoted when it holds a comma, a quote or a line break, or starts with a
// space or a tab that a reader might trim; other fields are written as they
// are. It buffers its output: call Flush at the end. The header is written
// by the first Write, or by Flush when there was no event, so an empty
// export is a header alone.
//
// A CSVWriter is not safe for concurrent use.
type CSVWriter struct {
	w             *bufio.Writer
	allowFormulas bool
	actorColumns  bool
	headerDone    bool
	buf           []byte
	metadata      []byte // the metadata cell's JSON, reused from row to row
}

// NewCSVWriter returns a CSVWriter that writes to w. opts may be nil.
func NewCSVWriter(w io.Writer, opts *CSVOptions) *CSVWriter {
	cw := &CSVWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 512)}
	if opts != nil {
		cw.allowFormulas = opts.AllowFormulas
		cw.actorColumns = opts.ActorColumns
	}
	return cw
}

// Write writes e as one row, after the header if it is the first. It returns
// the underlying writer's error, if any.
func (cw *CSVWriter) Write(e *AuditEvent) error {
	b := cw.buf[:0]
	if !cw.headerDone {
		b = cw.appendHeader(b)
	}
	b = cw.appendCell(b, e.ID)
	b = append(b, ',')
	b = e.Timestamp.UTC().AppendFormat(b, TimestampLayout)
	for _, s := range [...]string{
		e.Account, e.User, string(e.Action), string(e.ResourceKind),
		e.ResourceName, e.Configuration, e.Description,
	} {
		b = append(b, ',')
		b = cw.appendCell(b, s)
	}
	if cw.actorColumns {
		for _, s := range [...]string{e.IPAddress, e.UserAgent, e.RequestID} {
			b = append(b, ',')
			b = cw.appendCell(b, s)
		}
		b = append(b, ',')
		if len(e.Metadata) > 0 {
			// A JSON object starts with '{', never a formula, and
			// holds quotes: it is always quoted, its quotes doubled.
			cw.metadata = AppendMetadataJSON(cw.metadata[:0], e.Metadata)
			b = append(b, '"')
			for _, c := range cw.metadata {
				if c == '"' {
					b = append(b, '"')
				}
				b = append(b, c)
			}
			b = append(b, '"')
		}
	}
	b = append(b, '\r', '\n')
	cw.buf = b
	_, err := cw.w.Write(b)
	return err
}

// Flush writes the header if nothing was written yet, then any buffered data
// to the underlying writer, and returns its error, if any.
func (cw *CSVWriter) Flush() error {
	if !cw.headerDone {
		if _, err := cw.w.Write(cw.appendHeader(cw.buf[:0])); err != nil {
			return err
		}
	}
	return cw.w.Flush()
}

// Buffered returns how many bytes of the rows written so far have not yet
// been written to the underlying writer.
func (cw *CSVWriter) Buffered() int { return cw.w.Buffered() }

func (cw *CSVWriter) appendHeader(b []byte) []byte {
	cw.headerDone = true
	if cw.actorColumns {
		return append(b, csvActorHeaderRow...)
	}
	return append(b, csvHeaderRow...)
}

// appendCell appends s as one CSV field: neutralised when it could run as a
// formula, and quoted when it holds a comma, a quote, a line break, or
// starts with a space that a reader might trim.
func (cw *CSVWriter) appendCell(b []byte, s string) []byte {
	prefix := !cw.allowFormulas && isFormula(s)
	if !needsQuotes(s) {
		if prefix {
			b = append(b, '\'')
		}
		return append(b, s...)
	}
	b = append(b, '"')
	if prefix {
		b = append(b, '\'')
	}
	for {
		i := strings.IndexByte(s, '"')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '"')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '"')
}

func needsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' {
		return true
	}
	return strings.ContainsAny(s, ",\"\r\n")
}

// isFormula reports whether a spreadsheet would read s as a formula: whether
// it starts with =, +, -, @, tab, CR or LF, or a full-width =, +, - or @.
func isFormula(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r', '\n':
		return true
	}
	if s[0] < utf8.RuneSelf {
		return false
	}
	switch r, _ := utf8.DecodeRuneInString(s); r {
	case '＝', '＋', '－', '＠':
		return true
	}
	return false
}

// WriteCSV writes the header and then every event of events to w as CSV, and
// returns how many events it wrote. It stops at the first error, from the
// sequence or from w, and returns it without flushing the rows it still
// buffers, so that a failed export is visibly cut short rather than a
// complete-looking file missing its end. opts may be nil.
func WriteCSV(w io.Writer, events iter.Seq2[AuditEvent, error], opts *CSVOptions) (int, error) {
	cw := NewCSVWriter(w, opts)
	n := 0
	for e, err := range events {
		if err != nil {
			return n, err
		}
		if err := cw.Write(&e); err != nil {
			return n, err
		}
		n++
	}
	return n, cw.Flush()
}
