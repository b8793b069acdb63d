// Package routers mounts the audit events API on the routers Go services
// use, as their users write it: net/http's ServeMux, chi, gorilla/mux, echo
// and gin. Each host serves the API under its own prefix, /api, beside a
// catch-all route of its own and behind the panic-recovering middleware
// its users add. The tests hold every host to the same behaviour: GET,
// HEAD, 405 in the specification's error shape, paging by Link, the CSV
// download, refused input, and a response cut short that no client can
// take for complete.
//
// It is a module of its own, so that the library's module requires none of
// these routers.
package routers

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/gorilla/handlers"
	"github.com/gorilla/mux"
	"github.com/labstack/echo/v4"
	echomiddleware "github.com/labstack/echo/v4/middleware"

	"github.com/auditevents/auditevents/httpapi"
)

// HostPrefix is where every host below serves the API: at
// HostPrefix+api.Prefix()+"/audit-events".
const HostPrefix = "/api"

// HostHeader marks the responses of the hosts' own catch-all routes.
const HostHeader = "X-Host-Route"

// catchAll is the host's own route for every path it does not serve
// otherwise.
var catchAll = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HostHeader, "catch-all")
	http.Error(w, "no such page on this host", http.StatusNotFound)
})

// ServeMux mounts the API on a ServeMux that a host serves under /api
// through http.StripPrefix.
func ServeMux(api *httpapi.Handler) http.Handler {
	inner := http.NewServeMux()
	api.Register(inner) // /v1/audit-events and /v1/audit-events/download
	inner.Handle("/", catchAll)

	root := http.NewServeMux()
	root.Handle(HostPrefix+"/", http.StripPrefix(HostPrefix, inner))
	root.Handle("/", catchAll)
	return root
}

// Chi mounts the API in a chi sub-router, behind chi's Recoverer.
func Chi(api *httpapi.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.Recoverer)
	r.Route(HostPrefix, func(r chi.Router) {
		api.Register(r)
		r.Handle("/*", catchAll)
	})
	r.Handle("/*", catchAll)
	return r
}

// GorillaMux mounts the API on a gorilla/mux sub-router, behind gorilla's
// RecoveryHandler.
func GorillaMux(api *httpapi.Handler) http.Handler {
	r := mux.NewRouter()
	s := r.PathPrefix(HostPrefix).Subrouter()
	for _, rt := range api.Routes() {
		s.Handle(api.Prefix()+rt.Pattern, rt.Handler) // every method: the handler answers 405 itself
	}
	s.PathPrefix("/").Handler(catchAll)
	r.PathPrefix("/").Handler(catchAll)
	return handlers.RecoveryHandler()(r)
}

// Echo mounts the API in an echo group, behind echo's Recover and any
// net/http middleware given, wrapped with echo.WrapMiddleware.
func Echo(api *httpapi.Handler, netHTTPMiddleware ...func(http.Handler) http.Handler) http.Handler {
	e := echo.New()
	e.Use(echomiddleware.Recover())
	for _, m := range netHTTPMiddleware {
		e.Use(echo.WrapMiddleware(m))
	}
	g := e.Group(HostPrefix)
	for _, rt := range api.Routes() {
		g.Any(api.Prefix()+rt.Pattern, echo.WrapHandler(rt.Handler))
	}
	e.Any("/*", echo.WrapHandler(catchAll))
	return e
}

// Gin mounts the API in a gin route group, behind gin's Recovery.
func Gin(api *httpapi.Handler) http.Handler {
	r := gin.New()
	r.Use(gin.Recovery())
	g := r.Group(HostPrefix)
	for _, rt := range api.Routes() {
		g.Any(api.Prefix()+rt.Pattern, gin.WrapH(rt.Handler))
	}
	r.NoRoute(gin.WrapH(catchAll))
	return r
}

// GinCatchAll mounts the API on gin beside a host catch-all under the same
// prefix, /api/v1/*rest. gin cannot hold fixed routes beside a catch-all
// (it panics on the conflict), so the catch-all hands the API's paths to a
// ServeMux that holds the API, and serves the rest itself.
func GinCatchAll(api *httpapi.Handler) http.Handler {
	r := gin.New()
	r.Use(gin.Recovery())
	audit := http.NewServeMux()
	for _, rt := range api.Routes() {
		audit.Handle(HostPrefix+api.Prefix()+rt.Pattern, rt.Handler)
	}
	r.Group(HostPrefix+api.Prefix()).Any("/*rest", func(c *gin.Context) {
		if h, pattern := audit.Handler(c.Request); pattern != "" {
			h.ServeHTTP(c.Writer, c.Request)
			return
		}
		catchAll(c.Writer, c.Request) // the host's own routes
	})
	r.NoRoute(gin.WrapH(catchAll))
	return r
}
