package encode_test

import (
	"fmt"
	"os"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/encode"
)

// exampleEvents are two events as a store returns them.
var exampleEvents = []auditevents.AuditEvent{{
	ID:            "01JGKRQ3M8V63QXKKD6T5AR6KF",
	Timestamp:     time.Date(2025, 1, 2, 15, 4, 5, 123456000, time.UTC),
	Account:       "acme",
	User:          "alice@example.com",
	Action:        auditevents.ActionModified,
	ResourceKind:  auditevents.KindConfiguration,
	ResourceName:  "nginx",
	Configuration: "nginx:4",
}, {
	ID:           "01JGKRQ3M8V63QXKKD6T5AR6KG",
	Timestamp:    time.Date(2025, 1, 2, 15, 4, 6, 0, time.UTC),
	User:         "bob",
	Action:       auditevents.ActionDeleted,
	ResourceKind: auditevents.KindAPIKey,
	Description:  "key=ci\nrevoked",
}}

// A batch of JSON Lines is what the JSON API returns, one event per line.
func ExampleJSONLines() {
	enc := encode.JSONLines{}
	fmt.Println(enc.ContentType())
	os.Stdout.Write(enc.AppendBatch(nil, exampleEvents))
	// Output:
	// application/x-ndjson
	// {"id":"01JGKRQ3M8V63QXKKD6T5AR6KF","timestamp":"2025-01-02T15:04:05.123456Z","account":"acme","user":"alice@example.com","action":"Modified","resourceKind":"Configuration","resourceName":"nginx","configuration":"nginx:4","description":""}
	// {"id":"01JGKRQ3M8V63QXKKD6T5AR6KG","timestamp":"2025-01-02T15:04:06.000000Z","account":"","user":"bob","action":"Deleted","resourceKind":"APIKey","resourceName":"","configuration":"","description":"key=ci\nrevoked"}
}

// One event as a structured-mode CloudEvent; a batch is an array of them.
func ExampleCloudEvents() {
	enc := encode.CloudEvents{Source: "https://bindplane.example.com"}
	fmt.Println(enc.ContentType())
	os.Stdout.Write(enc.AppendEvent(nil, &exampleEvents[0]))
	// Output:
	// application/cloudevents-batch+json
	// {"specversion":"1.0","id":"01JGKRQ3M8V63QXKKD6T5AR6KF","source":"https://bindplane.example.com","type":"com.github.auditevents.Configuration.Modified","subject":"nginx","time":"2025-01-02T15:04:05.123456Z","datacontenttype":"application/json","data":{"id":"01JGKRQ3M8V63QXKKD6T5AR6KF","timestamp":"2025-01-02T15:04:05.123456Z","account":"acme","user":"alice@example.com","action":"Modified","resourceKind":"Configuration","resourceName":"nginx","configuration":"nginx:4","description":""}}
}

// An OCSF API Activity event: Modified is the Update activity, and the
// configuration is a second resource with its version.
func ExampleOCSF() {
	enc := encode.OCSF{Product: "Bindplane", Vendor: "observIQ"}
	os.Stdout.Write(enc.AppendEvent(nil, &exampleEvents[0]))
	// Output:
	// {"activity_id":3,"activity_name":"Update","category_uid":6,"category_name":"Application Activity","class_uid":6003,"class_name":"API Activity","type_uid":600303,"type_name":"API Activity: Update","severity_id":1,"severity":"Informational","status_id":1,"status":"Success","time":1735830245123,"timezone_offset":0,"metadata":{"uid":"01JGKRQ3M8V63QXKKD6T5AR6KF","original_time":"2025-01-02T15:04:05.123456Z","tenant_uid":"acme","version":"1.3.0","product":{"name":"Bindplane","vendor_name":"observIQ"}},"actor":{"user":{"name":"alice@example.com"}},"api":{"operation":"Modified"},"resources":[{"type":"Configuration","name":"nginx"},{"type":"Configuration","name":"nginx","version":"4"}],"src_endpoint":{"svc_name":"Bindplane"}}
}

// CEF lines for a syslog SIEM. The equals sign and the line break of the
// description are escaped, so the record stays one line with the keys it
// should have.
func ExampleCEF() {
	enc := encode.CEF{Vendor: "observIQ", Product: "Bindplane", Version: "1.80"}
	os.Stdout.Write(enc.AppendBatch(nil, exampleEvents))
	// Output:
	// CEF:0|observIQ|Bindplane|1.80|Configuration:Modified|Configuration Modified|3|rt=1735830245123 externalId=01JGKRQ3M8V63QXKKD6T5AR6KF suser=alice@example.com act=Modified cs1Label=account cs1=acme cs2Label=resourceKind cs2=Configuration cs3Label=resourceName cs3=nginx cs4Label=configuration cs4=nginx:4
	// CEF:0|observIQ|Bindplane|1.80|APIKey:Deleted|APIKey Deleted|3|rt=1735830246000 externalId=01JGKRQ3M8V63QXKKD6T5AR6KG suser=bob act=Deleted cs2Label=resourceKind cs2=APIKey msg=key\=ci\nrevoked
}
