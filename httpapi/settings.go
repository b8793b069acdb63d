package httpapi

// MaxLimit returns the largest "limit" the list endpoint accepts, as
// [Options.MaxLimit] set it. It is safe for concurrent use.
func (h *Handler) MaxLimit() int { return h.maxLimit }
