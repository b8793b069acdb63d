package httpapi

import (
	"reflect"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

func entryLineSeeds() [][]byte {
	e := auditevents.Entry{Seq: 42, Event: auditevents.AuditEvent{
		ID: "01JPAQ00000000000000000042", Timestamp: time.Date(2025, 3, 14, 9, 26, 53, 589793000, time.UTC),
		Account: "acme", User: "Zoë 東京", Action: "Exported", ResourceKind: auditevents.KindConfiguration,
		ResourceName: "prod", Configuration: "prod:2", Description: "<b>\"quoted\"</b>\n\u2028",
	}}
	plain := e
	plain.Event.Description = "plain"
	return [][]byte{
		appendEntryLine(nil, &e),
		appendEntryLine(nil, &plain),
		appendEntryLine(nil, &auditevents.Entry{Seq: 0, Pruned: 7}),
		[]byte(`{"seq":1,"event":{"id":"X","timestamp":"2025-01-02T15:04:05Z","account":"","user":"u","action":"a","resourceKind":"Nope","resourceName":"","configuration":"","description":""}}`),
		[]byte(`{"event":{"id":"X"},"seq":3}`),
		[]byte(`{"seq":01,"pruned":2}`),
		[]byte(`{"seq":1,"pruned":0}`),
		[]byte(`{"seq":1,"event":{"id":"\xff","timestamp":"2025-01-02T15:04:05Z","account":"","user":"u","action":"a","resourceKind":"Agent","resourceName":"","configuration":"","description":""}}`),
		[]byte(`not json`),
	}
}

// The direct scan of entry lines decodes exactly what encoding/json does,
// and errs where it errs.
func TestDecodeEntryLine(t *testing.T) {
	for _, line := range entryLineSeeds() {
		checkEntryLine(t, line)
	}
}

func FuzzDecodeEntryLine(f *testing.F) {
	for _, line := range entryLineSeeds() {
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line []byte) { checkEntryLine(t, line) })
}

func checkEntryLine(t *testing.T, line []byte) {
	t.Helper()
	got, gotErr := decodeEntryLine(line)
	want, wantErr := jsonEntryLine(line)
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: error %v, encoding/json's %v", line, gotErr, wantErr)
	}
	if gotErr != nil {
		return
	}
	if !got.Event.Timestamp.Equal(want.Event.Timestamp) || got.Event.Timestamp.Location().String() != want.Event.Timestamp.Location().String() {
		t.Fatalf("%q: timestamp %v, encoding/json's %v", line, got.Event.Timestamp, want.Event.Timestamp)
	}
	got.Event.Timestamp, want.Event.Timestamp = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%q:\n got  %+v\n want %+v", line, got, want)
	}
}
