package main

import (
	"context"
	"errors"
	"io"
)

// httpAvailable says whether this build has the HTTP handler to export
// through.
const httpAvailable = false

func httpExport(context.Context, Subject, io.Writer) (int, error) {
	return 0, errors.New("no HTTP handler in this build")
}
