package main

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"

	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/httpapi/viewer"
)

// mountViewer mounts the audit log viewer beside the API and returns its
// path. The page asks for an API key in a sign-in form, keeps it in the
// tab's sessionStorage and sends it in the X-Bindplane-Api-Key header, which
// authorizeRead reads: each key sees only its account's events.
func mountViewer(mux *http.ServeMux, api *httpapi.Handler) (string, error) {
	v, err := viewer.New(api, &viewer.Options{KeyHeader: "X-Bindplane-Api-Key"})
	if err != nil {
		return "", err
	}
	v.Register(mux)
	return v.Path(), nil
}

// printViewer prints the viewer's URL and the key to sign in with, the
// first thing the server prints.
func printViewer(w io.Writer, url string, cfg config) {
	key := slices.Min(slices.Collect(maps.Keys(cfg.keys))) // the key printUsage names
	fmt.Fprintf(w, "Audit log viewer: %s (sign in with the API key %s)\n\n", url, key)
}
