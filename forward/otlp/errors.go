package otlp

import "errors"

// ErrShutdown is returned by [Sink.Send] after [Sink.Shutdown].
var ErrShutdown = errors.New("otlp: sink is shut down")
