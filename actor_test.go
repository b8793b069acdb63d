package auditevents_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
)

// Each limit of the actor fields is refused with an EventError naming the
// field, so that a host can tell its caller which value is wrong.
func TestValidateActor(t *testing.T) {
	longKey := strings.Repeat("k", auditevents.MaxMetadataKeyBytes)
	long := strings.Repeat("x", auditevents.MaxNameBytes)
	entries := func(n int) map[string]string {
		m := map[string]string{}
		for i := range n {
			m[fmt.Sprintf("key-%02d", i)] = "v"
		}
		return m
	}
	tests := []struct {
		name   string
		mutate func(*auditevents.AuditEvent)
		field  string // "" when valid
	}{
		{"every actor field", func(*auditevents.AuditEvent) {}, ""},
		{"none", func(e *auditevents.AuditEvent) { e.IPAddress, e.UserAgent, e.RequestID, e.Metadata = "", "", "", nil }, ""},
		{"IPv4", func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.1" }, ""},
		{"IPv4-mapped IPv6", func(e *auditevents.AuditEvent) { e.IPAddress = "::ffff:192.0.2.1" }, ""},
		{"IPv6 long form", func(e *auditevents.AuditEvent) { e.IPAddress = "2001:0DB8:0000:0000:0000:0000:0000:0001" }, ""},
		{"IP with a zone", func(e *auditevents.AuditEvent) { e.IPAddress = "fe80::1%eth0" }, "ipAddress"},
		{"IP with a port", func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.1:443" }, "ipAddress"},
		{"IP as a network", func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.0/24" }, "ipAddress"},
		{"IP host name", func(e *auditevents.AuditEvent) { e.IPAddress = "example.com" }, "ipAddress"},
		{"IP with spaces", func(e *auditevents.AuditEvent) { e.IPAddress = " 192.0.2.1" }, "ipAddress"},
		{"IPv4 with leading zeros", func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.01" }, "ipAddress"},
		{"longest user agent", func(e *auditevents.AuditEvent) { e.UserAgent = long }, ""},
		{"user agent too long", func(e *auditevents.AuditEvent) { e.UserAgent = long + "x" }, "userAgent"},
		{"user agent not UTF-8", func(e *auditevents.AuditEvent) { e.UserAgent = "curl/\xff" }, "userAgent"},
		{"user agent with NUL", func(e *auditevents.AuditEvent) { e.UserAgent = "curl\x00" }, "userAgent"},
		{"longest request ID", func(e *auditevents.AuditEvent) { e.RequestID = long }, ""},
		{"request ID too long", func(e *auditevents.AuditEvent) { e.RequestID = long + "x" }, "requestId"},
		{"request ID not UTF-8", func(e *auditevents.AuditEvent) { e.RequestID = "\xc3\x28" }, "requestId"},
		{"request ID with NUL", func(e *auditevents.AuditEvent) { e.RequestID = "a\x00b" }, "requestId"},
		{"most metadata entries", func(e *auditevents.AuditEvent) { e.Metadata = entries(auditevents.MaxMetadataEntries) }, ""},
		{"too many metadata entries", func(e *auditevents.AuditEvent) { e.Metadata = entries(auditevents.MaxMetadataEntries + 1) }, "metadata"},
		{"empty metadata map", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{} }, ""},
		{"longest metadata key", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{longKey: "v"} }, ""},
		{"metadata key too long", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{longKey + "k": "v"} }, "metadata"},
		{"empty metadata key", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"": "v"} }, "metadata"},
		{"metadata key with a space", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"a b": "v"} }, "metadata"},
		{"metadata key with a slash", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"a/b": "v"} }, "metadata"},
		{"metadata key not ASCII", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"régión": "v"} }, "metadata"},
		{"metadata key of every allowed character", func(e *auditevents.AuditEvent) {
			e.Metadata = map[string]string{"azAZ09._-": "v"}
		}, ""},
		{"empty metadata value", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": ""} }, ""},
		{"longest metadata value", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": long} }, ""},
		{"metadata value too long", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": long + "x"} }, "metadata.k"},
		{"metadata value not UTF-8", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"region": "\xff"} }, "metadata.region"},
		{"metadata value with NUL", func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"session": "s\x00"} }, "metadata.session"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := actorSample()
			tt.mutate(&e)
			checkValidate(t, &e, tt.field)
		})
	}
	// The same invalid map gives the same error every time, whatever
	// order Go iterates it in.
	e := actorSample()
	e.Metadata = map[string]string{"a": "\xff", "b": "\xff", "c": "\xff", "d": "\xff"}
	first := e.Validate().Error()
	for range 20 {
		if got := e.Validate().Error(); got != first {
			t.Fatalf("Validate of one map gave %q and %q", first, got)
		}
	}
}

// Normalize gives one client one spelling, and the stored event a map of
// its own.
func TestNormalizeActor(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"::ffff:192.0.2.1", "192.0.2.1"},
		{"::FFFF:c000:0201", "192.0.2.1"},
		{"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
		{"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
		{"192.0.2.1", "192.0.2.1"},
		{"::", "::"},
		{"not an address", "not an address"}, // left for Validate to refuse
	} {
		e := sample()
		e.IPAddress = tt.in
		if got := auditevents.Normalize(e).IPAddress; got != tt.want {
			t.Errorf("Normalize(IPAddress %q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	e := actorSample()
	n := auditevents.Normalize(e)
	if !maps.Equal(n.Metadata, e.Metadata) {
		t.Fatalf("Normalize changed the metadata: %v, want %v", n.Metadata, e.Metadata)
	}
	n.Metadata["session"] = "changed"
	if e.Metadata["session"] == "changed" {
		t.Error("the normalized event shares its metadata map with the caller's")
	}
	e.Metadata = map[string]string{}
	if n := auditevents.Normalize(e); n.Metadata != nil {
		t.Errorf("Normalize kept an empty metadata map %#v, want nil", n.Metadata)
	}
}

// actorJSON is the event as encoding/json writes it with the actor fields
// omitted when empty: the reference AppendJSON must match byte for byte.
type actorJSON struct {
	ID        string            `json:"id"`
	Timestamp string            `json:"timestamp"`
	Account   string            `json:"account"`
	User      string            `json:"user"`
	Action    string            `json:"action"`
	Kind      string            `json:"resourceKind"`
	Name      string            `json:"resourceName"`
	Config    string            `json:"configuration"`
	Desc      string            `json:"description"`
	IP        string            `json:"ipAddress,omitempty"`
	UA        string            `json:"userAgent,omitempty"`
	Request   string            `json:"requestId,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

func referenceJSON(tb testing.TB, e *auditevents.AuditEvent) []byte {
	tb.Helper()
	b, err := json.Marshal(actorJSON{
		e.ID, e.Timestamp.UTC().Format(auditevents.TimestampLayout), e.Account, e.User, string(e.Action),
		string(e.ResourceKind), e.ResourceName, e.Configuration, e.Description,
		e.IPAddress, e.UserAgent, e.RequestID, e.Metadata,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// AppendJSON writes the actor fields that are set, after the description,
// exactly as encoding/json would; an event without them is the spec's
// model, byte for byte what it was before they existed.
func TestActorJSON(t *testing.T) {
	e := actorSample()
	e.UserAgent = "<script>\"ua\" & \u2028 \xff"
	e.Metadata["html"] = "<b>&</b>"
	got := e.AppendJSON(nil)
	if want := referenceJSON(t, &e); !bytes.Equal(got, want) {
		t.Errorf("AppendJSON wrote\n%s\nencoding/json writes\n%s", got, want)
	}
	if !bytes.HasSuffix(got, []byte(`"metadata":{"client.version":"1.2.3","html":"\u003cb\u003e\u0026\u003c/b\u003e","region":"eu-west-1","session":"s-42"}}`)) {
		t.Errorf("metadata not last, or its keys not sorted: %s", got)
	}
	// Each field alone appears alone.
	for _, one := range []func(*auditevents.AuditEvent){
		func(e *auditevents.AuditEvent) { e.IPAddress = "192.0.2.1" },
		func(e *auditevents.AuditEvent) { e.UserAgent = "curl/8" },
		func(e *auditevents.AuditEvent) { e.RequestID = "r-1" },
		func(e *auditevents.AuditEvent) { e.Metadata = map[string]string{"k": ""} },
	} {
		e := sample()
		one(&e)
		if got, want := e.AppendJSON(nil), referenceJSON(t, &e); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON wrote\n%s\nencoding/json writes\n%s", got, want)
		}
	}
	// Without actor context: exactly the spec's nine fields, and an empty
	// metadata map is no metadata.
	const spec = `{"id":"01JGFJJZ000000000000000000","timestamp":"2025-01-02T15:04:05.123456Z","account":"acme","user":"alice@example.com","action":"Modified","resourceKind":"Configuration","resourceName":"nginx","configuration":"nginx:3","description":"Configuration nginx modified"}`
	bare := sample()
	if got := string(bare.AppendJSON(nil)); got != spec {
		t.Errorf("event without actor context\n got  %s\n want %s", got, spec)
	}
	bare.Metadata = map[string]string{}
	if got := string(bare.AppendJSON(nil)); got != spec {
		t.Errorf("event with an empty metadata map\n got  %s\n want %s", got, spec)
	}
	// encoding/json decodes what AppendJSON writes back to the event.
	var back auditevents.AuditEvent
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	e.UserAgent = strings.ToValidUTF8(e.UserAgent, "\ufffd")
	if !back.Equal(&e) {
		t.Errorf("round trip\n got  %+v\n want %+v", back, e)
	}
	var none auditevents.AuditEvent
	if err := json.Unmarshal([]byte(spec), &none); err != nil || none.HasActor() || none.Metadata != nil {
		t.Errorf("the spec's event decodes to %+v, %v; want no actor context", none, err)
	}
}

// readActorCSV reads an export made with ActorColumns.
func readActorCSV(tb testing.TB, data []byte) [][]string {
	tb.Helper()
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = len(auditevents.CSVColumns()) + len(auditevents.CSVActorColumns())
	records, err := r.ReadAll()
	if err != nil {
		tb.Fatalf("encoding/csv cannot read the output: %v\n%q", err, data)
	}
	return records
}

// With ActorColumns the export has the four actor columns after the spec's,
// in a fixed order, metadata as a JSON object; without, the spec's columns
// only, whatever the events hold.
func TestCSVActorColumns(t *testing.T) {
	e := actorSample()
	bare := sample()
	if got, want := auditevents.CSVActorColumns(), []string{"ipAddress", "userAgent", "requestId", "metadata"}; !slices.Equal(got, want) {
		t.Fatalf("CSVActorColumns() = %v, want %v", got, want)
	}
	cols := auditevents.CSVActorColumns()
	cols[0] = "changed"
	if auditevents.CSVActorColumns()[0] != "ipAddress" {
		t.Error("CSVActorColumns returned the package's own slice")
	}

	var buf bytes.Buffer
	if _, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent{e, bare}), &auditevents.CSVOptions{ActorColumns: true}); err != nil {
		t.Fatal(err)
	}
	records := readActorCSV(t, buf.Bytes())
	if got, want := records[0], append(auditevents.CSVColumns(), auditevents.CSVActorColumns()...); !slices.Equal(got, want) {
		t.Errorf("header %v, want %v", got, want)
	}
	wantRow := []string{e.IPAddress, e.UserAgent, e.RequestID, `{"client.version":"1.2.3","region":"eu-west-1","session":"s-42"}`}
	if got := records[1][9:]; !slices.Equal(got, wantRow) {
		t.Errorf("actor cells\n got  %q\n want %q", got, wantRow)
	}
	if got := records[2][9:]; !slices.Equal(got, []string{"", "", "", ""}) {
		t.Errorf("actor cells of an event without actor context %q, want empty", got)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(records[1][12]), &m); err != nil || !maps.Equal(m, e.Metadata) {
		t.Errorf("metadata cell decodes to %v, %v; want %v", m, err, e.Metadata)
	}

	// Without the option, the spec's columns only.
	buf.Reset()
	if _, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent{e}), nil); err != nil {
		t.Fatal(err)
	}
	records = readCSV(t, buf.Bytes())
	if got, want := records[0], auditevents.CSVColumns(); !slices.Equal(got, want) {
		t.Errorf("header without ActorColumns %v, want %v", got, want)
	}
	for _, cell := range records[1] {
		if cell == e.IPAddress || cell == e.RequestID {
			t.Errorf("an actor field %q appears without ActorColumns", cell)
		}
	}
}

// The actor cells are neutralised as the spec's cells are: a user agent or
// request ID is text the client chose.
func TestCSVActorFormulas(t *testing.T) {
	e := sample()
	e.UserAgent = "=HYPERLINK(\"http://evil.example\")"
	e.RequestID = "+1-2"
	e.Metadata = map[string]string{"note": "=1+2"}
	for _, allow := range []bool{false, true} {
		var buf bytes.Buffer
		if _, err := auditevents.WriteCSV(&buf, seqOf([]auditevents.AuditEvent{e}), &auditevents.CSVOptions{ActorColumns: true, AllowFormulas: allow}); err != nil {
			t.Fatal(err)
		}
		row := readActorCSV(t, buf.Bytes())[1]
		wantUA, wantReq := "'"+e.UserAgent, "'"+e.RequestID
		if allow {
			wantUA, wantReq = e.UserAgent, e.RequestID
		}
		if row[10] != wantUA || row[11] != wantReq {
			t.Errorf("AllowFormulas %v: cells %q, %q; want %q, %q", allow, row[10], row[11], wantUA, wantReq)
		}
		if row[12] != `{"note":"=1+2"}` { // starts with '{': never a formula
			t.Errorf("metadata cell %q", row[12])
		}
	}
}

// Params lists the actor filters.
func TestParamsActor(t *testing.T) {
	for _, name := range []string{auditevents.ParamIPAddress, auditevents.ParamRequestID} {
		if !slices.Contains(auditevents.Params(), name) {
			t.Errorf("Params() does not list %q", name)
		}
	}
}

// A Query built in code is checked by Validate as ParseQuery checks the
// ip-address parameter.
func TestQueryValidateIPAddress(t *testing.T) {
	for _, bad := range []netip.Prefix{
		netip.MustParsePrefix("192.0.2.7/24"),
		netip.MustParsePrefix("::ffff:192.0.2.0/120"),
	} {
		q := auditevents.Query{IPAddress: bad}
		if err := q.Validate(); !errors.Is(err, auditevents.ErrInvalidQuery) {
			t.Errorf("Validate(ip-address %s) = %v, want ErrInvalidQuery", bad, err)
		}
	}
}

// An address filter matches that address, a network the addresses in it,
// and neither ever matches the other family.
func TestQueryMatchesActor(t *testing.T) {
	p := netip.MustParsePrefix
	tests := []struct {
		filter netip.Prefix
		ip     string
		want   bool
	}{
		{p("192.0.2.7/32"), "192.0.2.7", true},
		{p("192.0.2.7/32"), "192.0.2.8", false},
		{p("192.0.2.0/24"), "192.0.2.255", true},
		{p("192.0.2.0/24"), "192.0.3.0", false},
		{p("192.0.2.128/25"), "192.0.2.127", false},
		{p("192.0.2.128/25"), "192.0.2.128", true},
		{p("0.0.0.0/0"), "203.0.113.1", true},
		{p("0.0.0.0/0"), "2001:db8::1", false},
		{p("0.0.0.0/0"), "::ffff:192.0.2.1", true}, // an unnormalized mapped address is IPv4
		{p("0.0.0.0/0"), "::", false},
		{p("::/0"), "2001:db8::1", true},
		{p("::/0"), "192.0.2.1", false},
		{p("::/0"), "::", true},
		{p("2001:db8::/32"), "2001:db8:ffff::1", true},
		{p("2001:db8::/32"), "2001:db9::1", false},
		{p("::/96"), "0.0.0.1", false}, // IPv4-compatible space is still IPv6
		{p("192.0.2.0/24"), "", false},
		{p("192.0.2.0/24"), "not an address", false},
	}
	for _, tt := range tests {
		e := sample()
		e.IPAddress = tt.ip
		q := auditevents.Query{IPAddress: tt.filter}
		if got := q.Matches(&e); got != tt.want {
			t.Errorf("ip-address %s matches %q: %v, want %v", tt.filter, tt.ip, got, tt.want)
		}
		if got := auditevents.IPAddressMatches(tt.filter, tt.ip); got != tt.want {
			t.Errorf("IPAddressMatches(%s, %q) = %v, want %v", tt.filter, tt.ip, got, tt.want)
		}
	}
	e := actorSample()
	for _, tt := range []struct {
		q    auditevents.Query
		want bool
	}{
		{auditevents.Query{RequestID: e.RequestID}, true},
		{auditevents.Query{RequestID: strings.ToUpper(e.RequestID)}, false},
		{auditevents.Query{RequestID: e.RequestID[:5]}, false},
		{auditevents.Query{RequestID: e.RequestID, IPAddress: p("2001:db8::/32")}, true},
		{auditevents.Query{RequestID: e.RequestID, IPAddress: p("192.0.2.0/24")}, false},
		{auditevents.Query{RequestID: e.RequestID, User: "bob"}, false},
	} {
		if got := tt.q.Matches(&e); got != tt.want {
			t.Errorf("%+v matches: %v, want %v", tt.q, got, tt.want)
		}
	}
}

// SetActor fills only what the event leaves empty, and never changes a map
// the event shares with others.
func TestSetActor(t *testing.T) {
	a := auditevents.Actor{
		IPAddress: "192.0.2.1", UserAgent: "curl/8", RequestID: "req-1",
		Metadata: map[string]string{"session": "from-actor", "region": "eu-west-1"},
	}
	e := sample()
	e.SetActor(a)
	if e.IPAddress != a.IPAddress || e.UserAgent != a.UserAgent || e.RequestID != a.RequestID || !maps.Equal(e.Metadata, a.Metadata) {
		t.Fatalf("SetActor on an event without actor context: %+v", e)
	}
	e.Metadata["session"] = "changed"
	if a.Metadata["session"] != "from-actor" {
		t.Error("the event shares its metadata map with the Actor's")
	}

	shared := map[string]string{"session": "from-event"}
	e = sample()
	e.IPAddress, e.RequestID, e.Metadata = "2001:db8::1", "own-request", shared
	e.SetActor(a)
	want := map[string]string{"session": "from-event", "region": "eu-west-1"}
	if e.IPAddress != "2001:db8::1" || e.RequestID != "own-request" || e.UserAgent != "curl/8" || !maps.Equal(e.Metadata, want) {
		t.Errorf("SetActor: %+v; want the event's own fields kept, the user agent and region filled", e)
	}
	if len(shared) != 1 {
		t.Errorf("SetActor changed the event's original map: %v", shared)
	}

	e = sample()
	e.SetActor(auditevents.Actor{})
	if e.HasActor() || e.Metadata != nil {
		t.Errorf("SetActor of an empty Actor gave %+v", e)
	}
	if _, ok := auditevents.ActorFromContext(context.Background()); ok {
		t.Error("ActorFromContext found an Actor in an empty context")
	}
	ctx := auditevents.ContextWithActor(auditevents.ContextWithActor(context.Background(), a), auditevents.Actor{RequestID: "later"})
	if got, ok := auditevents.ActorFromContext(ctx); !ok || got.RequestID != "later" || got.IPAddress != "" {
		t.Errorf("ActorFromContext = %+v, %v; want the later Actor", got, ok)
	}
}

// RecordWithActor stores the events with the context's Actor filled in,
// what the caller set winning; without an Actor it is Record.
func TestRecordWithActor(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return at },
		Entropy: rand.NewChaCha8([32]byte{2}),
	})
	meta := map[string]string{"session": "s-1"}
	ctx := auditevents.ContextWithActor(context.Background(), auditevents.Actor{
		IPAddress: "::ffff:192.0.2.9", UserAgent: "curl/8", RequestID: "req-9", Metadata: meta,
	})
	own := auditevents.AuditEvent{User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindUser, RequestID: "job-3"}
	plain := auditevents.AuditEvent{User: "bob", Action: auditevents.ActionDeleted, ResourceKind: auditevents.KindUser}
	if err := rec.RecordWithActor(ctx, own, plain); err != nil {
		t.Fatal(err)
	}
	if err := rec.RecordWithActor(context.Background(), plain); err != nil {
		t.Fatal(err)
	}
	got, err := auditevents.Collect(store.Query(context.Background(), auditevents.Query{}))
	if err != nil || len(got) != 3 {
		t.Fatalf("stored %d events, %v; want 3", len(got), err)
	}
	byUser := map[string][]auditevents.AuditEvent{}
	for _, e := range got {
		byUser[e.User] = append(byUser[e.User], e)
	}
	a := byUser["alice"][0]
	if a.IPAddress != "192.0.2.9" || a.UserAgent != "curl/8" || a.RequestID != "job-3" || a.Metadata["session"] != "s-1" {
		t.Errorf("alice's event %+v: want the Actor's address (normalized), user agent and metadata, and its own request ID", a)
	}
	withActor, without := 0, 0
	for _, e := range byUser["bob"] {
		if e.HasActor() {
			withActor++
			if e.RequestID != "req-9" {
				t.Errorf("bob's event with the Actor has request ID %q", e.RequestID)
			}
		} else {
			without++
		}
	}
	if withActor != 1 || without != 1 {
		t.Errorf("bob's events: %d with actor context and %d without, want 1 and 1", withActor, without)
	}
	meta["session"] = "changed"
	got, _ = auditevents.Collect(store.Query(context.Background(), auditevents.Query{User: "alice"}))
	if got[0].Metadata["session"] != "s-1" {
		t.Error("the stored event shares its metadata with the Actor's map")
	}
}

func TestRedactFields(t *testing.T) {
	ctx := context.Background()
	e := actorSample()
	orig := actorSample()
	r, err := auditevents.RedactFields("ipAddress", "userAgent", "metadata.session", "description")
	if err != nil {
		t.Fatal(err)
	}
	got := r.Apply(ctx, e)
	if got.IPAddress != "" || got.UserAgent != "" || got.Description != "" || got.RequestID != e.RequestID {
		t.Errorf("redacted %+v", got)
	}
	if want := map[string]string{"region": "eu-west-1", "client.version": "1.2.3"}; !maps.Equal(got.Metadata, want) {
		t.Errorf("redacted metadata %v, want %v", got.Metadata, want)
	}
	if !e.Equal(&orig) {
		t.Errorf("Apply changed the event it was given: %+v", e)
	}
	// ApplyTo: the same redaction on the caller's own copy, whose map it
	// replaces rather than changes, so the map shared with e is untouched.
	own := e
	r.ApplyTo(ctx, &own)
	if !own.Equal(&got) {
		t.Errorf("ApplyTo gave %+v, Apply %+v", own, got)
	}
	if !e.Equal(&orig) {
		t.Errorf("ApplyTo changed the map its event shared: %+v", e.Metadata)
	}

	all, err := auditevents.RedactFields("account", "user", "resourceName", "configuration", "description", "ipAddress", "userAgent", "requestId", "metadata")
	if err != nil {
		t.Fatal(err)
	}
	got = all.Apply(ctx, e)
	if got.HasActor() || got.Metadata != nil || got.Account != "" || got.User != "" || got.ResourceName != "" || got.Configuration != "" || got.Description != "" {
		t.Errorf("redacting every field left %+v", got)
	}
	// Each field alone: that field emptied, every other one kept.
	for _, tt := range []struct {
		field string
		clear func(*auditevents.AuditEvent)
	}{
		{"account", func(e *auditevents.AuditEvent) { e.Account = "" }},
		{"user", func(e *auditevents.AuditEvent) { e.User = "" }},
		{"resourceName", func(e *auditevents.AuditEvent) { e.ResourceName = "" }},
		{"configuration", func(e *auditevents.AuditEvent) { e.Configuration = "" }},
		{"description", func(e *auditevents.AuditEvent) { e.Description = "" }},
		{"ipAddress", func(e *auditevents.AuditEvent) { e.IPAddress = "" }},
		{"userAgent", func(e *auditevents.AuditEvent) { e.UserAgent = "" }},
		{"requestId", func(e *auditevents.AuditEvent) { e.RequestID = "" }},
		{"metadata", func(e *auditevents.AuditEvent) { e.Metadata = nil }},
	} {
		r, err := auditevents.RedactFields(tt.field)
		if err != nil {
			t.Fatalf("RedactFields(%q): %v", tt.field, err)
		}
		want := actorSample()
		want.Description = "a description" // so that clearing it shows
		src := want
		tt.clear(&want)
		if got := r.Apply(ctx, src); !got.Equal(&want) {
			t.Errorf("RedactFields(%q):\n got  %+v\n want %+v", tt.field, got, want)
		}
	}
	if got.ID != e.ID || !got.Timestamp.Equal(e.Timestamp) || got.Action != e.Action || got.ResourceKind != e.ResourceKind {
		t.Errorf("redaction removed what identifies the event: %+v", got)
	}
	// The last metadata entry removed is no metadata: JSON without it.
	one, _ := auditevents.RedactFields("metadata.k")
	m := sample()
	m.Metadata = map[string]string{"k": "v"}
	if got := one.Apply(ctx, m); got.Metadata != nil || bytes.Contains(got.AppendJSON(nil), []byte("metadata")) {
		t.Errorf("removing the only entry left %#v", got.Metadata)
	}

	for _, bad := range []string{"id", "timestamp", "ip", "metadata.", "metadata.a b", "IPAddress", ""} {
		_, err := auditevents.RedactFields("user", bad)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) || !strings.Contains(err.Error(), "ipAddress") {
			t.Errorf("RedactFields(%q) = %v, want an error naming it and the known fields", bad, err)
		}
	}
}

func TestMaskIPAddress(t *testing.T) {
	r, err := auditevents.MaskIPAddress(24, 48)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.77", "192.0.2.0"},
		{"::ffff:192.0.2.77", "192.0.2.0"},
		{"2001:db8:1:2::5", "2001:db8:1::"},
		{"", ""},
		{"garbage", ""},
	} {
		e := sample()
		e.IPAddress = tt.in
		if got := r.Apply(context.Background(), e).IPAddress; got != tt.want {
			t.Errorf("MaskIPAddress(24, 48) of %q = %q, want %q", tt.in, got, tt.want)
		}
	}
	all, _ := auditevents.MaskIPAddress(0, 0)
	e := sample()
	e.IPAddress = "2001:db8::1"
	if got := all.Apply(context.Background(), e).IPAddress; got != "::" {
		t.Errorf("MaskIPAddress(0, 0) = %q, want ::", got)
	}
	none, _ := auditevents.MaskIPAddress(32, 128)
	if got := none.Apply(context.Background(), e).IPAddress; got != e.IPAddress {
		t.Errorf("MaskIPAddress(32, 128) = %q, want it unchanged", got)
	}
	for _, bits := range [][2]int{{-1, 48}, {33, 48}, {24, -1}, {24, 129}} {
		if _, err := auditevents.MaskIPAddress(bits[0], bits[1]); err == nil || !strings.Contains(err.Error(), "expected 0 to") {
			t.Errorf("MaskIPAddress(%d, %d) = %v, want an error giving the range", bits[0], bits[1], err)
		}
	}
}

// ChainRedactors applies each in turn, skipping nil ones; a nil Redactor's
// Apply returns the event as it is. The Redactor sees the context, so one
// output can redact for one audience and not another.
func TestChainRedactors(t *testing.T) {
	type audience struct{}
	mask, _ := auditevents.MaskIPAddress(24, 48)
	drop, _ := auditevents.RedactFields("requestId")
	external := func(ctx context.Context, e *auditevents.AuditEvent) {
		if ctx.Value(audience{}) == "external" {
			mask(ctx, e)
			e.Metadata["redacted"] = "true"
		}
	}
	chain := auditevents.ChainRedactors(nil, drop, external)
	e := actorSample()
	e.IPAddress = "192.0.2.77"
	got := chain.Apply(context.WithValue(context.Background(), audience{}, "external"), e)
	if got.IPAddress != "192.0.2.0" || got.RequestID != "" || got.Metadata["redacted"] != "true" {
		t.Errorf("chain for the external audience: %+v", got)
	}
	if _, ok := e.Metadata["redacted"]; ok || e.IPAddress != "192.0.2.77" || e.RequestID == "" {
		t.Errorf("the chain changed the original event: %+v", e)
	}
	got = chain.Apply(context.Background(), e)
	if got.IPAddress != "192.0.2.77" || got.RequestID != "" {
		t.Errorf("chain for the internal audience: %+v", got)
	}
	var nilRedactor auditevents.Redactor
	if got := nilRedactor.Apply(context.Background(), e); !got.Equal(&e) {
		t.Errorf("a nil Redactor changed the event: %+v", got)
	}
}

// A Redactor applied to a stored event's copy leaves the stored event as it
// was: the next reader sees it whole.
func TestRedactorLeavesStoredEvent(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	defer store.Close()
	if err := store.Append(ctx, actorSample()); err != nil {
		t.Fatal(err)
	}
	r, _ := auditevents.RedactFields("metadata.session", "ipAddress")
	for e, err := range store.Query(ctx, auditevents.Query{}) {
		if err != nil {
			t.Fatal(err)
		}
		r(ctx, &e) // in place, on the reader's own copy
	}
	got, err := auditevents.Collect(store.Query(ctx, auditevents.Query{}))
	want := auditevents.Normalize(actorSample())
	if err != nil || len(got) != 1 || !got[0].Equal(&want) {
		t.Errorf("the stored event after a reader redacted its copy: %+v, %v; want %+v", got, err, want)
	}
}

// The encoders the HTTP layer streams with allocate nothing per event, actor
// fields and metadata included, once their buffers have grown.
func TestActorEncodingAllocatesNothing(t *testing.T) {
	e := actorSample()
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendJSON(buf[:0]) }); n != 0 {
		t.Errorf("AppendJSON of an event with actor context: %v allocations, want 0", n)
	}
	cw := auditevents.NewCSVWriter(io.Discard, &auditevents.CSVOptions{ActorColumns: true})
	if n := testing.AllocsPerRun(100, func() { cw.Write(&e) }); n != 0 {
		t.Errorf("CSVWriter.Write with actor columns: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { auditevents.LeafHash(1, &e) }); n != 0 {
		t.Errorf("LeafHash of an event with actor context: %v allocations, want 0", n)
	}
}

// BenchmarkAppendJSON measures the JSON of a typical event without actor
// context (the baseline of the same run) and with it.
func BenchmarkAppendJSON(b *testing.B) {
	for _, c := range []struct {
		name string
		e    auditevents.AuditEvent
	}{{"spec", sample()}, {"actor", actorSample()}} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.e.AppendJSON(nil))))
			for b.Loop() {
				buf = c.e.AppendJSON(buf[:0])
			}
		})
	}
}
