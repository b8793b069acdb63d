package forward

import (
	"context"

	"github.com/auditevents/auditevents"
)

// Sink is where a batch of events goes. A host implements it to forward
// events anywhere (a Kafka topic, a file); [Webhook] is the one this package
// provides.
//
// Implementations must be safe for concurrent use.
type Sink interface {
	// Send delivers events, in the order given, and returns nil once the
	// receiver has acknowledged all of them. On error none of them is to
	// be taken as delivered: the error wraps a [*PermanentError] when
	// sending again cannot succeed, a [*RetryError] when the receiver said
	// when to try again, and is any other error when a later attempt may
	// succeed. When ctx is cancelled Send returns promptly with an error
	// wrapping ctx.Err(). Send must not modify or keep events after it
	// returns.
	Send(ctx context.Context, events []auditevents.AuditEvent) error
}
