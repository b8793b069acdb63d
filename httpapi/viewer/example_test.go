package viewer_test

import (
	"fmt"
	"net/http"

	"github.com/auditevents/auditevents/httpapi"
	"github.com/auditevents/auditevents/httpapi/viewer"
	"github.com/auditevents/auditevents/store/memstore"
)

// A host mounts the page beside the API it reads. Here the host's
// Authorize reads an API key from a header, so the page asks for the key.
func ExampleViewer_Register() {
	store := memstore.New()
	defer store.Close()
	api, err := httpapi.New(store, &httpapi.Options{
		Authorize: func(r *http.Request) (string, error) {
			if r.Header.Get("X-Api-Key") != "secret" {
				return "", httpapi.ErrUnauthorized
			}
			return "acme", nil
		},
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	api.Register(mux)
	v := viewer.Must(api, &viewer.Options{KeyHeader: "X-Api-Key"})
	v.Register(mux)
	fmt.Println(v.Path())
	// Output: /v1/audit-events/viewer/
}
