package main

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/auditevents/auditevents"
)

// packedEvents holds events in one byte slice, without pointers, so that
// the garbage collector never scans them. The program keeps the generated
// events for the whole run, to give every store the same ones: held as
// AuditEvents, a million of them would be some 300 MB of strings for every
// garbage collection to mark, a cost that would land on whichever store
// allocates most while it is measured, and no user's process has it.
type packedEvents struct {
	buf  []byte
	ends []int // ends[i] is the end of event i in buf
}

// pack encodes events; fields are separated by NUL bytes, which no valid
// event holds, the metadata as its JSON object.
func pack(events []auditevents.AuditEvent) *packedEvents {
	p := &packedEvents{ends: make([]int, len(events))}
	for i := range events {
		e := &events[i]
		p.buf = append(p.buf, e.ID...)
		p.buf = append(p.buf, 0)
		p.buf = strconv.AppendInt(p.buf, e.Timestamp.UnixMicro(), 10)
		var metadata []byte
		if len(e.Metadata) > 0 {
			metadata = auditevents.AppendMetadataJSON(nil, e.Metadata)
		}
		for _, f := range [...]string{e.Account, e.User, string(e.Action), string(e.ResourceKind), e.ResourceName, e.Configuration, e.Description,
			e.IPAddress, e.UserAgent, e.RequestID, string(metadata)} {
			p.buf = append(p.buf, 0)
			p.buf = append(p.buf, f...)
		}
		p.ends[i] = len(p.buf)
	}
	return p
}

// Len returns the number of events.
func (p *packedEvents) Len() int { return len(p.ends) }

// decode appends events i to j-1 to dst.
func (p *packedEvents) decode(i, j int, dst []auditevents.AuditEvent) []auditevents.AuditEvent {
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	for k := i; k < j; k++ {
		s := string(p.buf[start:p.ends[k]])
		start = p.ends[k]
		var f [13]string
		for n := range len(f) - 1 {
			f[n], s, _ = strings.Cut(s, "\x00")
		}
		f[len(f)-1] = s
		us, _ := strconv.ParseInt(f[1], 10, 64)
		e := auditevents.AuditEvent{
			ID: f[0], Timestamp: time.UnixMicro(us).UTC(), Account: f[2], User: f[3],
			Action: auditevents.Action(f[4]), ResourceKind: auditevents.Kind(f[5]),
			ResourceName: f[6], Configuration: f[7], Description: f[8],
			IPAddress: f[9], UserAgent: f[10], RequestID: f[11],
		}
		if f[12] != "" {
			json.Unmarshal([]byte(f[12]), &e.Metadata) // written by pack: valid
		}
		dst = append(dst, e)
	}
	return dst
}
