package auditevents_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/store/memstore"
	"github.com/oklog/ulid/v2"
)

var at = time.Date(2025, 1, 2, 15, 4, 5, 123456000, time.UTC)

func sample() auditevents.AuditEvent {
	return auditevents.AuditEvent{
		ID:            "01JGFJJZ000000000000000000",
		Timestamp:     at,
		Account:       "acme",
		User:          "alice@example.com",
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "nginx",
		Configuration: "nginx:3",
		Description:   "Configuration nginx modified",
	}
}

// actorSample is sample with every actor field set.
func actorSample() auditevents.AuditEvent {
	e := sample()
	e.IPAddress = "2001:db8::7"
	e.UserAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
	e.RequestID = "4bf92f3577b34da6a3ce929d0e0e4736"
	e.Metadata = map[string]string{"region": "eu-west-1", "session": "s-42", "client.version": "1.2.3"}
	return e
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*auditevents.AuditEvent)
		field  string // "" when valid
	}{
		{"valid", func(*auditevents.AuditEvent) {}, ""},
		{"empty optional fields", func(e *auditevents.AuditEvent) {
			e.Account, e.Configuration, e.Description, e.ResourceName = "", "", "", ""
		}, ""},
		{"custom action", func(e *auditevents.AuditEvent) { e.Action = "Exported" }, ""},
		{"lower-case id", func(e *auditevents.AuditEvent) { e.ID = strings.ToLower(e.ID) }, ""},
		{"short id", func(e *auditevents.AuditEvent) { e.ID = e.ID[:25] }, "id"},
		{"id with I", func(e *auditevents.AuditEvent) { e.ID = "01JGFJJZ00000000000000000I" }, "id"},
		{"id overflowing", func(e *auditevents.AuditEvent) { e.ID = "81JGFJJZ000000000000000000" }, "id"},
		{"zero timestamp", func(e *auditevents.AuditEvent) { e.Timestamp = time.Time{} }, "timestamp"},
		{"year 10000", func(e *auditevents.AuditEvent) { e.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, "timestamp"},
		{"empty user", func(e *auditevents.AuditEvent) { e.User = "" }, "user"},
		{"empty action", func(e *auditevents.AuditEvent) { e.Action = "" }, "action"},
		{"unknown kind", func(e *auditevents.AuditEvent) { e.ResourceKind = "configuration" }, "resourceKind"},
		{"invalid utf-8", func(e *auditevents.AuditEvent) { e.Configuration = "\xc3\x28" }, "configuration"},
		{"nul", func(e *auditevents.AuditEvent) { e.Description = "\x00" }, "description"},
		{"long name", func(e *auditevents.AuditEvent) { e.User = strings.Repeat("x", auditevents.MaxNameBytes+1) }, "user"},
		{"longest name", func(e *auditevents.AuditEvent) { e.User = strings.Repeat("x", auditevents.MaxNameBytes) }, ""},
		{"long description", func(e *auditevents.AuditEvent) {
			e.Description = strings.Repeat("x", auditevents.MaxDescriptionBytes+1)
		}, "description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := sample()
			tt.mutate(&e)
			checkValidate(t, &e, tt.field)
		})
	}
}

// checkValidate fails unless e.Validate() returns nil when field is empty,
// or an *EventError naming field, with a message that names it too.
func checkValidate(tb testing.TB, e *auditevents.AuditEvent, field string) {
	tb.Helper()
	err := e.Validate()
	if field == "" {
		if err != nil {
			tb.Fatalf("Validate() = %v, want nil", err)
		}
		return
	}
	var ee *auditevents.EventError
	if !errors.As(err, &ee) || !errors.Is(err, auditevents.ErrInvalidEvent) {
		tb.Fatalf("Validate() = %v, want an *EventError", err)
	}
	if got, want := ee.Field, field; got != want {
		tb.Errorf("Field = %q, want %q", got, want)
	}
	if !strings.Contains(err.Error(), field) || len(err.Error()) > 2000 {
		tb.Errorf("message %.200q does not name %q, or is too long", err.Error(), field)
	}
}

func TestPrepareBatch(t *testing.T) {
	a, b := sample(), sample()
	b.ID = "01JGFJJZ000000000000000001"
	b.Timestamp = time.Date(2025, 1, 2, 16, 4, 5, 123456789, time.FixedZone("", 3600))
	got, err := auditevents.PrepareBatch([]auditevents.AuditEvent{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if want := at.Add(time.Nanosecond * 0); !got[1].Timestamp.Equal(want) || got[1].Timestamp.Location() != time.UTC {
		t.Errorf("normalized timestamp %s, want %s UTC", got[1].Timestamp, want)
	}

	bad := sample()
	bad.ID = "01JGFJJZ000000000000000002"
	bad.User = ""
	_, err = auditevents.PrepareBatch([]auditevents.AuditEvent{a, b, bad})
	var ee *auditevents.EventError
	if !errors.As(err, &ee) || ee.Index != 2 || ee.Field != "user" {
		t.Errorf("PrepareBatch = %v, want an EventError for index 2, field user", err)
	}

	dup := a
	dup.ID = strings.ToLower(a.ID)
	_, err = auditevents.PrepareBatch([]auditevents.AuditEvent{a, dup})
	var de *auditevents.DuplicateIDError
	if !errors.As(err, &de) || !errors.Is(err, auditevents.ErrDuplicateID) || de.ID != a.ID || !strings.Contains(err.Error(), a.ID) {
		t.Errorf("PrepareBatch(same ID twice) = %v, want a *DuplicateIDError for %s wrapping ErrDuplicateID, naming it", err, a.ID)
	}
}

func TestKinds(t *testing.T) {
	kinds := auditevents.Kinds()
	if got, want := len(kinds), 44; got != want {
		t.Fatalf("len(Kinds()) = %d, want %d (the spec's model.Kind enum)", got, want)
	}
	kinds[0] = "Mutated"
	if auditevents.Kinds()[0] != auditevents.KindConfiguration {
		t.Error("Kinds() returned the package's own slice")
	}
	for _, k := range auditevents.Kinds() {
		got, err := auditevents.ParseKind(string(k))
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	for _, name := range []string{"", "configuration", "CONFIGURATION", "Widget", "Configuration "} {
		_, err := auditevents.ParseKind(name)
		if !errors.Is(err, auditevents.ErrUnknownKind) || !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("ParseKind(%q) = %v, want ErrUnknownKind naming it", name, err)
		}
	}
	var k auditevents.Kind
	if err := json.Unmarshal([]byte(`"Widget"`), &k); !errors.Is(err, auditevents.ErrUnknownKind) {
		t.Errorf("json.Unmarshal(Widget) = %v, want ErrUnknownKind", err)
	}
	if err := json.Unmarshal([]byte(`"APIKey"`), &k); err != nil || k != auditevents.KindAPIKey {
		t.Errorf("json.Unmarshal(APIKey) = %q, %v", k, err)
	}
	if _, err := json.Marshal(auditevents.Kind("Widget")); !errors.Is(err, auditevents.ErrUnknownKind) {
		t.Errorf("json.Marshal(Widget) = %v, want ErrUnknownKind", err)
	}
}

func TestJSON(t *testing.T) {
	e := sample()
	e.Account = ""
	e.Description = "<b>\"quoted\" & \\ \n\t\x01 \u2028 é 🚀</b>"
	got, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	// Field names are exactly the spec's, and every field is present.
	var fields map[string]any
	if err := json.Unmarshal(got, &fields); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	want := []string{"account", "action", "configuration", "description", "id", "resourceKind", "resourceName", "timestamp", "user"}
	if !slices.Equal(names, want) {
		t.Errorf("fields %v, want %v", names, want)
	}
	if got, want := fields["timestamp"], "2025-01-02T15:04:05.123456Z"; got != want {
		t.Errorf("timestamp %v, want %v", got, want)
	}
	// Strings are escaped exactly as encoding/json escapes them.
	std, _ := json.Marshal(e.Description)
	if !bytes.Contains(got, std) {
		t.Errorf("description encoded as\n%s\nwant encoding/json's\n%s", got, std)
	}
	// A round trip keeps every field, the timestamp to the microsecond.
	var back auditevents.AuditEvent
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Timestamp.Equal(e.Timestamp) {
		t.Errorf("timestamp %s after a round trip, want %s", back.Timestamp, e.Timestamp)
	}
	back.Timestamp = e.Timestamp
	if !back.Equal(&e) {
		t.Errorf("round trip\n got  %+v\n want %+v", back, e)
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("plain", "<>&\"\\\u2028\x7f", "\xff\xfe", "", "", "", "", "")
	f.Add("\b\f\x00\x1f", "\u2029\ufffd", "\xed\xa0\x80", "192.0.2.1", "Mozilla/5.0 <&>", "req-1", "session", "s-\u2028\xff")
	f.Add("a", "", "", "::ffff:1.2.3.4", "\x00\x1f", "\xed\xa0\x80", "k.e-y_", "<script>")
	f.Fuzz(func(t *testing.T, user, description, account, ip, userAgent, requestID, key, value string) {
		e := sample()
		e.User, e.Description, e.Account = user, description, account
		e.IPAddress, e.UserAgent, e.RequestID = ip, userAgent, requestID
		if key != "" {
			e.Metadata = map[string]string{key: value, "z" + key: key}
		}
		// Byte for byte what encoding/json writes for the same fields,
		// the actor fields omitted when empty.
		if got, want := e.AppendJSON(nil), referenceJSON(t, &e); !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON wrote\n%q\nencoding/json writes\n%q", got, want)
		}
	})
}

func TestRecorder(t *testing.T) {
	store := memstore.New()
	defer store.Close()
	clock := at
	rec := auditevents.NewRecorder(store, &auditevents.RecorderOptions{
		Now:     func() time.Time { return clock },
		Entropy: rand.NewChaCha8([32]byte{1}),
	})
	ctx := context.Background()
	// Many events in one microsecond, then a clock that steps back: the
	// IDs still increase in the order they are made.
	var made []string
	for i := range 100 {
		if i == 50 {
			clock = at.Add(-time.Hour)
		}
		e := auditevents.AuditEvent{User: "alice", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindUser}
		if err := rec.Stamp(&e); err != nil {
			t.Fatal(err)
		}
		if len(made) > 0 && e.ID <= made[len(made)-1] {
			t.Fatalf("ID %s made after %s does not sort after it", e.ID, made[len(made)-1])
		}
		made = append(made, e.ID)
		if err := rec.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := auditevents.Collect(store.Query(ctx, auditevents.Query{}))
	if err != nil {
		t.Fatal(err)
	}
	// Events of one microsecond come back newest recorded first.
	want := slices.Concat(made[:50], made[50:])
	slices.Reverse(want[:50])
	slices.Reverse(want[50:])
	var gotIDs []string
	for _, e := range got {
		gotIDs = append(gotIDs, e.ID)
	}
	if !slices.Equal(gotIDs, want) {
		t.Errorf("query order\n got  %v\n want %v", gotIDs, want)
	}
	// Set fields are kept.
	own := auditevents.AuditEvent{ID: "01JGFJJZ000000000000000000", Timestamp: at.Add(-48 * time.Hour), User: "bob", Action: "Imported", ResourceKind: auditevents.KindAgent}
	if err := rec.Stamp(&own); err != nil || own.ID != "01JGFJJZ000000000000000000" || !own.Timestamp.Equal(at.Add(-48*time.Hour)) {
		t.Errorf("Stamp changed set fields: %+v, %v", own, err)
	}
	// An invalid event is not stored.
	if err := rec.Record(ctx, auditevents.AuditEvent{Action: "Created", ResourceKind: auditevents.KindUser}); !errors.Is(err, auditevents.ErrInvalidEvent) {
		t.Errorf("Record(no user) = %v, want ErrInvalidEvent", err)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	rec := auditevents.NewRecorder(memstore.New(), nil)
	const goroutines, each = 8, 500
	var mu sync.Mutex
	seen := make(map[string]bool)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []ulid.ULID
			for range each {
				var e auditevents.AuditEvent
				if err := rec.Stamp(&e); err != nil {
					t.Error(err)
					return
				}
				mine = append(mine, ulid.MustParse(e.ID))
			}
			// Each goroutine sees its own IDs strictly increase.
			for i := 1; i < len(mine); i++ {
				if mine[i].Compare(mine[i-1]) <= 0 {
					t.Errorf("ID %s after %s", mine[i], mine[i-1])
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range mine {
				if seen[id.String()] {
					t.Errorf("ID %s made twice", id)
				}
				seen[id.String()] = true
			}
		}()
	}
	wg.Wait()
	if got, want := len(seen), goroutines*each; got != want {
		t.Errorf("%d distinct IDs, want %d", got, want)
	}
}
