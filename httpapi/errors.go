package httpapi

import "errors"

// ErrUnauthorized is returned, wrapped or as it is, by an [Options.Authorize]
// hook when the request carries no credentials or invalid ones. The
// endpoints answer 401 Unauthorized.
var ErrUnauthorized = errors.New("httpapi: unauthorized")

// ErrForbidden is returned, wrapped or as it is, by an [Options.Authorize]
// hook when the caller is known but may not read audit events. The
// endpoints answer 403 Forbidden.
var ErrForbidden = errors.New("httpapi: forbidden")

// ErrInvalidOptions is returned, wrapped with what was wrong, by [New] when
// an [Options] field holds a value it cannot use.
var ErrInvalidOptions = errors.New("httpapi: invalid options")
