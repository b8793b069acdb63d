package httpapi

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
)

// ParamFormat is the download's parameter that chooses its format: "csv",
// the specification's CSV file and the default, or "jsonl", JSON Lines. It
// is an extension: a request without it, and without an Accept header that
// asks for JSON Lines, gets the CSV file exactly as before. It is not a
// parameter of the list endpoint, which refuses it as unknown.
const ParamFormat = "format"

// The values of [ParamFormat].
const (
	FormatCSV       = "csv"
	FormatJSONLines = "jsonl"
)

// contentJSONLines is the media type of the JSON Lines download.
var contentJSONLines = encode.JSONLines{}.ContentType()

// negotiate picks the download's format: JSON Lines when the "format"
// parameter says "jsonl", or, without the parameter, when the Accept header
// prefers JSON Lines (see acceptsJSONLines); the CSV file otherwise. It
// returns the endpoint that writes that format and the parameters without
// "format", for ParseQuery. A bad "format" returns ep and a
// [*auditevents.QueryError].
func (ep *endpoint) negotiate(r *http.Request, values url.Values) (*endpoint, url.Values, error) {
	jsonl := acceptsJSONLines(r.Header.Values("Accept"))
	parsed := values
	if vs, ok := values[ParamFormat]; ok {
		if len(vs) > 1 {
			return ep, nil, &auditevents.QueryError{Param: ParamFormat, Value: strings.Join(vs, ","), Reason: "given more than once; give it at most once"}
		}
		switch vs[0] {
		case FormatJSONLines:
			jsonl = true
		case FormatCSV, "":
			jsonl = false
		default:
			return ep, nil, &auditevents.QueryError{Param: ParamFormat, Value: vs[0], Reason: "expected " + FormatCSV + " (the default) or " + FormatJSONLines}
		}
		parsed = without(values, ParamFormat)
	}
	if !jsonl {
		return ep, parsed, nil
	}
	jl := *ep
	jl.jsonl = true // and the same Redactor: one covers both formats
	return &jl, parsed, nil
}

// acceptsJSONLines reports whether the Accept header values prefer JSON
// Lines: they name application/x-ndjson, application/jsonl or
// application/x-jsonlines with a quality above 0, and above the quality
// they give the CSV file's types (application/octet-stream, text/csv),
// named exactly. Wildcards, absent or malformed headers, and ties keep the
// specification's CSV.
func acceptsJSONLines(accept []string) bool {
	var lines, csv float64
	for _, header := range accept {
		for part := range strings.SplitSeq(header, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if q, err = strconv.ParseFloat(s, 64); err != nil || q < 0 || q > 1 {
					continue
				}
			}
			switch mt {
			case contentJSONLines, "application/jsonl", "application/x-jsonlines":
				lines = max(lines, q)
			case contentOctetStream, "text/csv":
				csv = max(csv, q)
			}
		}
	}
	return lines > 0 && lines > csv
}

// explain adds to the error of an unknown parameter the parameters that
// this endpoint accepts beyond ParseQuery's: "format" for the download.
func (ep *endpoint) explain(err error) error {
	var qe *auditevents.QueryError
	if !ep.csv || !errors.As(err, &qe) || qe.Param != "parameter" {
		return err
	}
	return &auditevents.QueryError{Param: qe.Param, Value: qe.Value, Reason: qe.Reason + ", " + ParamFormat + " (" + FormatCSV + " or " + FormatJSONLines + ")"}
}

// linesEncoder writes the JSON Lines download with [encode.JSONLines],
// gathering flushBytes before each write.
type linesEncoder struct {
	w   io.Writer
	buf []byte
}

func newLinesEncoder(w io.Writer) *linesEncoder {
	return &linesEncoder{w: w, buf: make([]byte, 0, flushBytes+4096)}
}

func (l *linesEncoder) write(e *auditevents.AuditEvent) error {
	l.buf = append(encode.JSONLines{}.AppendEvent(l.buf, e), '\n')
	if len(l.buf) < flushBytes {
		return nil
	}
	return l.flush()
}

func (l *linesEncoder) buffered() int { return len(l.buf) }

// close writes what remains, also nothing: an empty body still gets the
// success headers.
func (l *linesEncoder) close() error { return l.flush() }

func (l *linesEncoder) flush() error {
	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]
	return err
}
