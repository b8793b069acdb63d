package httpapi

// Prefix returns the path the endpoints are served under, as
// [Options.Prefix] gave it without its trailing "/": "/v1" by default, ""
// for the root. The list endpoint is Prefix()+[ListPath] and the download
// Prefix()+[DownloadPath]. It is safe for concurrent use.
func (h *Handler) Prefix() string { return h.prefix }

// MaxLimit returns the largest "limit" the list endpoint accepts, as
// [Options.MaxLimit] set it. It is safe for concurrent use.
func (h *Handler) MaxLimit() int { return h.maxLimit }
