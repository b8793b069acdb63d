package otlp_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	collogpb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	"google.golang.org/protobuf/proto"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward/otlp"
)

// A Sink sends each batch as one OTLP export request; here a collector
// stand-in prints what it decodes.
func ExampleSink_Send() {
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var req collogpb.ExportLogsServiceRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for _, rec := range req.ResourceLogs[0].ScopeLogs[0].LogRecords {
			fmt.Println(r.URL.Path, rec.SeverityText, rec.Body.GetStringValue())
			for _, kv := range rec.Attributes {
				fmt.Printf("  %s=%s\n", kv.Key, kv.Value.GetStringValue())
			}
		}
	}))
	defer collector.Close()

	ctx := context.Background()
	sink, err := otlp.New(ctx, &otlp.Options{Endpoint: collector.URL})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sink.Shutdown(ctx)
	err = sink.Send(ctx, []auditevents.AuditEvent{{
		ID:            "01JGKRQ3M8V63QXKKD6T5AR6KF",
		Timestamp:     time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC),
		Account:       "acme",
		User:          "alice",
		Action:        auditevents.ActionModified,
		ResourceKind:  auditevents.KindConfiguration,
		ResourceName:  "nginx",
		Configuration: "nginx:4",
		Description:   "Modified configuration nginx",
	}})
	fmt.Println("acknowledged:", err == nil)
	// Output:
	// /v1/logs INFO Modified configuration nginx
	//   log.record.uid=01JGKRQ3M8V63QXKKD6T5AR6KF
	//   user.name=alice
	//   auditevents.action=Modified
	//   auditevents.resource.kind=Configuration
	//   auditevents.account=acme
	//   auditevents.resource.name=nginx
	//   auditevents.configuration=nginx:4
	// acknowledged: true
}
