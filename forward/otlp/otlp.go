// Package otlp is a [forward.Sink] that sends audit events as OpenTelemetry
// log records to a collector over OTLP/HTTP, with the OpenTelemetry Go SDK's
// log exporter (otlploghttp). It lives in its own module so that only hosts
// that forward to OpenTelemetry depend on the SDK.
//
// # Mapping
//
// Each event is one log record. Where the OpenTelemetry semantic conventions
// name a field, the record uses that name; the event's other fields are
// attributes under "auditevents.", named after the fields of the JSON API:
//
//	log record field           from the event
//	Timestamp                  timestamp (to the microsecond, in UTC)
//	ObservedTimestamp          the time the record was sent ([Options].Now)
//	SeverityNumber, Text       INFO (9), "INFO"
//	EventName                  "auditevents.audit_event", the same for every
//	                           record: it names the shape of the attributes
//	Body                       description, a string; no value when empty
//	attribute log.record.uid   id (semantic conventions: a unique ID by which
//	                           receivers de-duplicate; a ULID is recommended)
//	attribute user.name        user (semantic conventions)
//	auditevents.account        account
//	auditevents.action         action
//	auditevents.resource.kind  resourceKind
//	auditevents.resource.name  resourceName
//	auditevents.configuration  configuration, as "name" or "name:version"
//	attribute client.address   ipAddress (semantic conventions: the address
//	                           of the client that made the request)
//	attribute user_agent.original
//	                           userAgent (semantic conventions: the value of
//	                           the client's User-Agent, as it sent it)
//	auditevents.request.id     requestId: the conventions name no attribute
//	                           for an application's request ID (trace IDs
//	                           are the record's TraceId, which a request ID
//	                           need not be)
//	auditevents.metadata.KEY   each metadata entry, KEY its key (metadata
//	                           keys are letters, digits, '.', '_' and '-',
//	                           as attribute names may be)
//
// Attributes whose value would be empty (account, resource name,
// configuration, and the actor fields) are left out, so an event without
// actor context makes the record it made before those fields existed.
// Every attribute is a string. The resource is
// [Options].Resource, by default service.name "auditevents"; the
// instrumentation scope is this package's import path.
//
// # Errors
//
// The exporter's own retries are turned off: [Sink.Send] makes one attempt
// and reports its outcome as the forward package's sinks do
// ([forward.ClassifyHTTP]): a 4xx response other than 408 and 429 is a
// [*forward.PermanentError], a Retry-After header gives a
// [*forward.RetryError], and any other failure is worth retrying. A partial
// success (the collector rejected some records as malformed) acknowledges
// the batch: the collector has decided about every record, and sending them
// again would not change its mind.
package otlp

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/forward"
)

// ScopeName is the name of the instrumentation scope of every record.
const ScopeName = "github.com/auditevents/auditevents/forward/otlp"

// EventName is the event name of every record.
const EventName = "auditevents.audit_event"

// Attribute keys of the records, as the package documentation maps them.
const (
	AttrID            = "log.record.uid"
	AttrUser          = "user.name"
	AttrAccount       = "auditevents.account"
	AttrAction        = "auditevents.action"
	AttrResourceKind  = "auditevents.resource.kind"
	AttrResourceName  = "auditevents.resource.name"
	AttrConfiguration = "auditevents.configuration"
	AttrIPAddress     = "client.address"
	AttrUserAgent     = "user_agent.original"
	AttrRequestID     = "auditevents.request.id"
	// AttrMetadataPrefix starts the key of each metadata entry's
	// attribute: "auditevents.metadata.session" for the key "session".
	AttrMetadataPrefix = "auditevents.metadata."
)

// Options configures a [Sink]. The zero value, like a nil *Options, means
// the defaults given for each field.
type Options struct {
	// Endpoint is the URL of the collector's OTLP/HTTP logs endpoint, such
	// as "http://127.0.0.1:4318/v1/logs"; an http URL sends without TLS.
	// A URL without a path gets "/v1/logs". Empty means the exporter's
	// default, which honours the OTEL_EXPORTER_OTLP_LOGS_ENDPOINT and
	// OTEL_EXPORTER_OTLP_ENDPOINT environment variables and is otherwise
	// https://localhost:4318/v1/logs.
	Endpoint string
	// Headers are sent with every request, such as an API key.
	Headers map[string]string
	// Gzip compresses request bodies.
	Gzip bool
	// Client sends the requests; configure TLS and proxies on its
	// Transport. Nil means a client with a timeout of 10 seconds and
	// http.DefaultTransport.
	Client *http.Client
	// Resource describes the host that forwards. Nil means a resource
	// with service.name "auditevents".
	Resource *resource.Resource
	// ExporterOptions are passed to otlploghttp.New after those above,
	// for anything else the exporter offers, such as a maximum request
	// size. Its TLS, proxy and timeout options (and the environment
	// variables for them) have no effect, because the sink sends through
	// Client. An option that turns the exporter's retries back on makes
	// Send retry before it returns.
	ExporterOptions []otlploghttp.Option
	// Now returns the observed timestamp of the records. Nil means
	// time.Now; tests set it.
	Now func() time.Time
}

// Sink is a [forward.Sink] that sends each batch of events as one OTLP
// export request of log records, as the package documentation maps them.
//
// A Sink is safe for concurrent use. Shut it down when done with it.
type Sink struct {
	exporter *otlploghttp.Exporter
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
	now      func() time.Time
}

var _ forward.Sink = (*Sink)(nil)

// New returns a Sink that exports to the collector that opts names. opts
// may be nil. It returns an error wrapping [forward.ErrInvalidOptions] when
// the endpoint is not an absolute http or https URL, and the exporter's error
// when it cannot be made. New does not connect to the collector.
func New(ctx context.Context, opts *Options) (*Sink, error) {
	if opts == nil {
		opts = &Options{}
	}
	var eopts []otlploghttp.Option
	if opts.Endpoint != "" {
		u, err := url.Parse(opts.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: OTLP endpoint %q: expected an absolute http or https URL such as http://127.0.0.1:4318/v1/logs", forward.ErrInvalidOptions, opts.Endpoint)
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/v1/logs"
		}
		eopts = append(eopts, otlploghttp.WithEndpointURL(u.String()))
	}
	if len(opts.Headers) > 0 {
		eopts = append(eopts, otlploghttp.WithHeaders(opts.Headers))
	}
	if opts.Gzip {
		eopts = append(eopts, otlploghttp.WithCompression(otlploghttp.GzipCompression))
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	recording := *client
	recording.Transport = &responseRecorder{base: client.Transport}
	eopts = append(eopts,
		otlploghttp.WithHTTPClient(&recording),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: false}))
	eopts = append(eopts, opts.ExporterOptions...)
	exporter, err := otlploghttp.New(ctx, eopts...)
	if err != nil {
		return nil, fmt.Errorf("otlp: exporter: %w", err)
	}
	res := opts.Resource
	if res == nil {
		res = resource.NewSchemaless(attribute.String("service.name", "auditevents"))
	}
	// The provider only builds records: it stamps the resource and the
	// scope on each, and hands it to batchCollector, which puts it in the
	// batch of the Send that emitted it. Send then exports the batch itself,
	// so it learns the outcome.
	provider := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(batchCollector{}))
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Sink{
		exporter: exporter,
		provider: provider,
		logger:   provider.Logger(ScopeName),
		now:      now,
	}, nil
}

// Send exports events as one request and returns nil once the collector has
// acknowledged it. On failure, the error is classified as the package
// documentation says. Sending no events does nothing and returns nil.
func (s *Sink) Send(ctx context.Context, events []auditevents.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	records := make([]sdklog.Record, 0, len(events))
	// A context of its own, so the host's trace context does not end up
	// on the records.
	emitCtx := context.WithValue(context.Background(), batchKey{}, &records)
	observed := s.now()
	for i := range events {
		s.logger.Emit(emitCtx, logRecord(&events[i], observed))
	}
	if len(records) != len(events) {
		return ErrShutdown
	}
	resp := &response{}
	err := s.exporter.Export(context.WithValue(ctx, responseKey{}, resp), records)
	if err == nil {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("otlp: export: %w", ctxErr)
	}
	err = fmt.Errorf("otlp: export: %w", err)
	if code, retryAfter, ok := resp.get(); ok {
		return forward.ClassifyHTTP(code, retryAfter, err, s.now())
	}
	return err
}

// Shutdown shuts down the exporter, after which Send returns [ErrShutdown]. It returns the
// exporter's error, if any.
func (s *Sink) Shutdown(ctx context.Context) error {
	err := s.provider.Shutdown(ctx)
	if e := s.exporter.Shutdown(ctx); e != nil && err == nil {
		err = e
	}
	return err
}

// logRecord returns the log record of e, as the package documentation maps
// it.
func logRecord(e *auditevents.AuditEvent, observed time.Time) otellog.Record {
	var r otellog.Record
	r.SetTimestamp(e.Timestamp)
	r.SetObservedTimestamp(observed)
	r.SetSeverity(otellog.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetEventName(EventName)
	if e.Description != "" {
		r.SetBody(attribute.StringValue(e.Description))
	}
	r.AddAttributes(
		attribute.String(AttrID, e.ID),
		attribute.String(AttrUser, e.User),
		attribute.String(AttrAction, string(e.Action)),
		attribute.String(AttrResourceKind, string(e.ResourceKind)),
	)
	for _, a := range [...]struct{ key, value string }{
		{AttrAccount, e.Account},
		{AttrResourceName, e.ResourceName},
		{AttrConfiguration, e.Configuration},
		{AttrIPAddress, e.IPAddress},
		{AttrUserAgent, e.UserAgent},
		{AttrRequestID, e.RequestID},
	} {
		if a.value != "" {
			r.AddAttributes(attribute.String(a.key, a.value))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		r.AddAttributes(attribute.String(AttrMetadataPrefix+k, e.Metadata[k]))
	}
	return r
}

// batchKey is the context key of the slice a Send collects its records in.
type batchKey struct{}

// batchCollector is the provider's only processor: it appends each record
// to the slice in its context.
type batchCollector struct{}

func (batchCollector) Enabled(context.Context, sdklog.EnabledParameters) bool { return true }

func (batchCollector) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if batch, ok := ctx.Value(batchKey{}).(*[]sdklog.Record); ok {
		*batch = append(*batch, r.Clone())
	}
	return nil
}

func (batchCollector) Shutdown(context.Context) error   { return nil }
func (batchCollector) ForceFlush(context.Context) error { return nil }

// responseKey is the context key of the response a Send's export records.
type responseKey struct{}

// response is the status and Retry-After header of the last response to an
// export request.
type response struct {
	mu         sync.Mutex
	code       int
	retryAfter string
}

func (r *response) set(code int, retryAfter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code, r.retryAfter = code, retryAfter
}

// get returns what set recorded, and whether a response came at all.
func (r *response) get() (code int, retryAfter string, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.code, r.retryAfter, r.code != 0
}

// responseRecorder is the exporter's transport: it records the status of
// each response in the request's context, so Send can classify a failure
// without reading the exporter's error messages.
type responseRecorder struct{ base http.RoundTripper }

func (t *responseRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err == nil {
		if r, ok := req.Context().Value(responseKey{}).(*response); ok {
			r.set(resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	return resp, err
}
