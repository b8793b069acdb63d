package auditevents

import (
	"context"
	"maps"
)

// Actor is the context of the client behind a request: the values that
// [Recorder.RecordWithActor] copies into the actor fields of the events it
// records. httpapi's ActorMiddleware puts one in each request's context; a
// host may also put its own with [ContextWithActor], from a gRPC peer or a
// job runner, say.
type Actor struct {
	// IPAddress is the client's address, as [AuditEvent.IPAddress].
	IPAddress string
	// UserAgent is the client's User-Agent, as [AuditEvent.UserAgent].
	UserAgent string
	// RequestID identifies the request, as [AuditEvent.RequestID].
	RequestID string
	// Metadata is copied into [AuditEvent.Metadata], for the keys the event
	// does not set itself.
	Metadata map[string]string
}

// actorKey is the context key of the Actor that ContextWithActor stores.
type actorKey struct{}

// ContextWithActor returns a copy of ctx that carries a, for
// [ActorFromContext] and [Recorder.RecordWithActor]. A later call replaces
// the Actor of an earlier one.
func ContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the Actor that [ContextWithActor] stored in ctx,
// and whether there was one.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// SetActor fills the actor fields of e that are empty from a: the IP
// address, user agent and request ID, and the metadata entries whose keys e
// does not have. What the caller set on the event wins. It copies e's
// metadata before adding to it, so a map shared with other events is not
// changed.
func (e *AuditEvent) SetActor(a Actor) {
	if e.IPAddress == "" {
		e.IPAddress = a.IPAddress
	}
	if e.UserAgent == "" {
		e.UserAgent = a.UserAgent
	}
	if e.RequestID == "" {
		e.RequestID = a.RequestID
	}
	if len(a.Metadata) == 0 {
		return
	}
	m := maps.Clone(e.Metadata)
	if m == nil {
		m = make(map[string]string, len(a.Metadata))
	}
	for k, v := range a.Metadata {
		if _, set := m[k]; !set {
			m[k] = v
		}
	}
	e.Metadata = m
}

// RecordWithActor is [Recorder.Record] for events caused by a request: it
// first fills each event's empty actor fields from the [Actor] in ctx (see
// [AuditEvent.SetActor]), then stamps and appends them as one batch. Without
// an Actor in ctx it is Record.
func (r *Recorder) RecordWithActor(ctx context.Context, events ...AuditEvent) error {
	if a, ok := ActorFromContext(ctx); ok {
		for i := range events {
			events[i].SetActor(a)
		}
	}
	return r.Record(ctx, events...)
}
