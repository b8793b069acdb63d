package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
)

// Defaults and bounds of [ActorOptions].
const (
	// DefaultRequestIDHeader is the header a request ID is read from, and
	// echoed in, by default.
	DefaultRequestIDHeader = "X-Request-ID"
	// MaxRequestIDBytes bounds a request ID taken from a request header;
	// a longer one is replaced by a new one.
	MaxRequestIDBytes = 128
)

// The headers that [ActorOptions.ForwardedHeader] may name.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderForwarded     = "Forwarded"
)

// ActorOptions configures [ActorMiddleware]. The zero value, like a nil
// *ActorOptions, means the defaults given for each field: the client's
// address is the connection's peer, whatever the request's headers say.
type ActorOptions struct {
	// TrustedProxies lists the networks of the reverse proxies in front of
	// the server, such as 10.0.0.0/8 or a load balancer's 192.0.2.10/32.
	// Only when the connection's peer is in one of them is ForwardedHeader
	// read, and then only as far as it was written by these proxies: the
	// client is the right-most address of the chain that is not a trusted
	// proxy. Empty (the default) trusts no one, and ForwardedHeader is
	// never read: any client can write X-Forwarded-For, so a server that
	// clients reach directly must not believe it. List the proxies'
	// addresses as narrowly as they are known: a client whose own address
	// falls in a listed network is believed as a proxy would be, and can
	// name any address it likes.
	TrustedProxies []netip.Prefix

	// ForwardedHeader is the header the trusted proxies append the
	// address of their own peer to: [HeaderXForwardedFor] (the default)
	// or [HeaderForwarded] (RFC 7239). Only that one is read. A proxy
	// that appends to one passes the other on from the client as it came,
	// so reading both would let a client choose its own address.
	ForwardedHeader string

	// RequestIDHeader is the request header a request ID is taken from,
	// when it holds one of 1 to [MaxRequestIDBytes] printable ASCII
	// characters without spaces; otherwise, and when the header is absent,
	// the request gets a new ID from NewRequestID. Defaults to
	// [DefaultRequestIDHeader]. The ID is the client's word, as a
	// propagated trace ID is, whoever the peer: it links an event to the
	// host's other logs, but a client can reuse another request's ID, so
	// do not treat it as proof of which request acted.
	RequestIDHeader string

	// EchoRequestID sets the request ID, taken or new, in the response
	// header RequestIDHeader, so that a client can quote it.
	EchoRequestID bool

	// NewRequestID returns a new request ID: 1 to MaxRequestIDBytes
	// printable ASCII characters without spaces. Defaults to 32 random
	// hexadecimal digits. It must be safe for concurrent use.
	NewRequestID func() string
}

// actorResolver is what ActorMiddleware reads each request with.
type actorResolver struct {
	trusted   []netip.Prefix
	forwarded string // the canonical name of the header read
	idHeader  string
	echo      bool
	newID     func() string
}

// ActorMiddleware returns a middleware that puts the [auditevents.Actor]
// of each request in its context ([auditevents.ContextWithActor]), for
// [auditevents.Recorder.RecordWithActor] and for handlers of the host's
// own: the client's IP address, its User-Agent and a request ID. opts may
// be nil. Every request gets an Actor; one an outer middleware put in the
// context is replaced.
//
// The IP address is the connection's peer (http.Request.RemoteAddr),
// without a zone and with an IPv4-mapped IPv6 address written as IPv4. When
// the peer is one of [ActorOptions.TrustedProxies], the chain of
// ForwardedHeader (all its lines, in order) is walked from the right: each
// address that is a trusted proxy too is passed over, and the first that
// is not is the client's. Entries may carry ports ("192.0.2.7:4711",
// "[2001:db8::7]:4711"), zones (dropped) and, in Forwarded, quotes. An entry
// that does not parse as an address (garbage, "unknown", an obfuscated
// Forwarded identifier such as "_hidden", a Forwarded element without
// "for") ends the walk: the client is then the last trusted address
// reached, the proxy that wrote the entry, rather than anything a client
// could have chosen. A chain of trusted proxies only gives the left-most of
// them. A peer that is not an IP address (a Unix socket) gives no address.
//
// The User-Agent is made valid UTF-8 without NUL bytes and cut, at a
// character's boundary, to [auditevents.MaxNameBytes], so an event
// recorded with it never fails validation.
//
// It returns an error wrapping [ErrInvalidOptions] for a TrustedProxies
// entry that is not a valid prefix (or an IPv4-mapped one shorter than 96
// bits), a ForwardedHeader other than the two
// names, or a RequestIDHeader that is not a header name. The middleware is
// safe for concurrent use.
func ActorMiddleware(opts *ActorOptions) (func(http.Handler) http.Handler, error) {
	var o ActorOptions
	if opts != nil {
		o = *opts
	}
	ar := &actorResolver{
		forwarded: http.CanonicalHeaderKey(o.ForwardedHeader),
		idHeader:  o.RequestIDHeader,
		echo:      o.EchoRequestID,
		newID:     o.NewRequestID,
	}
	for _, p := range o.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("%w: TrustedProxies holds an invalid prefix", ErrInvalidOptions)
		}
		// An address matches in the form the peer's is read in: without a
		// zone, IPv4-mapped addresses as IPv4.
		a := p.Addr().WithZone("")
		bits := p.Bits()
		if a.Is4In6() {
			if bits < 96 { // it would hold IPv6 addresses that are not IPv4
				return nil, fmt.Errorf("%w: TrustedProxies holds %s, an IPv4-mapped prefix shorter than 96 bits; write the IPv4 network", ErrInvalidOptions, p)
			}
			a, bits = a.Unmap(), bits-96
		}
		ar.trusted = append(ar.trusted, netip.PrefixFrom(a, bits).Masked())
	}
	switch ar.forwarded {
	case "":
		ar.forwarded = HeaderXForwardedFor
	case HeaderXForwardedFor, HeaderForwarded:
	default:
		return nil, fmt.Errorf("%w: ForwardedHeader %q: expected %q or %q", ErrInvalidOptions, o.ForwardedHeader, HeaderXForwardedFor, HeaderForwarded)
	}
	if ar.idHeader == "" {
		ar.idHeader = DefaultRequestIDHeader
	}
	if !validHeaderName(ar.idHeader) {
		return nil, fmt.Errorf("%w: RequestIDHeader %q is not a header name", ErrInvalidOptions, ar.idHeader)
	}
	if ar.newID == nil {
		ar.newID = randomRequestID
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			a := ar.actor(r)
			if ar.echo {
				w.Header().Set(ar.idHeader, a.RequestID)
			}
			next.ServeHTTP(w, r.WithContext(auditevents.ContextWithActor(r.Context(), a)))
		})
	}, nil
}

// actor reads the Actor of r.
func (ar *actorResolver) actor(r *http.Request) auditevents.Actor {
	var a auditevents.Actor
	if ip, ok := ar.clientIP(r); ok {
		a.IPAddress = ip.String()
	}
	a.UserAgent = cleanUserAgent(r.Header.Get("User-Agent"))
	a.RequestID = r.Header.Get(ar.idHeader)
	if !validRequestID(a.RequestID) {
		a.RequestID = ar.newID()
		if !validRequestID(a.RequestID) { // a host's generator gone wrong
			a.RequestID = randomRequestID()
		}
	}
	return a
}

// clientIP returns the address of r's client, as ActorMiddleware documents.
func (ar *actorResolver) clientIP(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHostPort(r.RemoteAddr)
	if !ok || !ar.isTrusted(peer) {
		return peer, ok
	}
	chain := r.Header.Values(ar.forwarded)
	var hops []string
	if ar.forwarded == HeaderForwarded {
		hops = forwardedFor(chain)
	} else {
		for _, line := range chain {
			hops = append(hops, strings.Split(line, ",")...)
		}
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHostPort(strings.TrimSpace(hops[i]))
		if !ok {
			return client, true // the proxy that wrote it, not what it wrote
		}
		client = hop
		if !ar.isTrusted(hop) {
			break
		}
	}
	return client, true
}

func (ar *actorResolver) isTrusted(a netip.Addr) bool {
	for _, p := range ar.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHostPort reads an address as RemoteAddr and the forwarding headers
// write it: "192.0.2.7", "192.0.2.7:80", "2001:db8::7", "[2001:db8::7]",
// "[2001:db8::7]:80", with or without a zone. It returns the address without
// its zone, IPv4-mapped addresses as IPv4.
func parseHostPort(s string) (netip.Addr, bool) {
	if s == "" || len(s) > 128 {
		return netip.Addr{}, false
	}
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(s); err == nil {
		a = ap.Addr()
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		var err error
		if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil || !a.Is6() {
			return netip.Addr{}, false
		}
	} else {
		var err error
		if a, err = netip.ParseAddr(s); err != nil {
			return netip.Addr{}, false
		}
	}
	return a.WithZone("").Unmap(), true
}

// forwardedFor returns the "for" value of each element of the Forwarded
// header lines (RFC 7239), in order, unquoted. An element without a
// "for", with two, or that does not parse gives "", which no address
// parses from.
func forwardedFor(lines []string) []string {
	var hops []string
	for _, line := range lines {
		hops = append(hops, forwardedLine(line)...)
	}
	return hops
}

// forwardedLine reads one Forwarded header line: elements separated by
// commas, each pairs name=value separated by semicolons, a value a token or
// a quoted string.
func forwardedLine(s string) []string {
	var hops []string
	for {
		forValue, n, ok := "", 0, true
		for {
			s = strings.TrimLeft(s, " \t")
			eq := strings.IndexAny(s, "=,;") // stops at the element's end: linear
			if eq <= 0 || s[eq] != '=' || strings.ContainsAny(s[:eq], " \t\"") {
				ok = false
				break
			}
			name := s[:eq]
			s = s[eq+1:]
			var value string
			if strings.HasPrefix(s, `"`) {
				var good bool
				value, s, good = unquote(s)
				if !good {
					ok = false
					break
				}
			} else {
				end := strings.IndexAny(s, ",;")
				if end < 0 {
					end = len(s)
				}
				value, s = strings.TrimRight(s[:end], " \t"), s[end:]
			}
			if strings.EqualFold(name, "for") {
				forValue, n = value, n+1
			}
			s = strings.TrimLeft(s, " \t")
			if s != "" && s[0] != ';' && s[0] != ',' {
				ok = false // garbage after a value: the element is bad
				break
			}
			if !strings.HasPrefix(s, ";") {
				break
			}
			s = s[1:]
		}
		if !ok || n != 1 {
			forValue = ""
		}
		if !ok {
			// Skip to the next element; a comma within quotes is not
			// looked for, the element being garbage already.
			if i := strings.IndexByte(s, ','); i >= 0 {
				s = s[i:]
			} else {
				s = ""
			}
		}
		hops = append(hops, forValue)
		s = strings.TrimLeft(s, " \t")
		if !strings.HasPrefix(s, ",") {
			return hops
		}
		s = s[1:]
	}
}

// unquote reads the quoted string at the start of s (RFC 9110: a
// backslash escapes the next character) and returns its value, the rest of
// s, and whether it ended.
func unquote(s string) (value, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], true
		case '\\':
			if i++; i == len(s) {
				return "", "", false
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// cleanUserAgent returns ua as valid UTF-8 without NUL bytes, cut at a
// character's boundary to auditevents.MaxNameBytes.
func cleanUserAgent(ua string) string {
	ua = strings.ToValidUTF8(ua, "\uFFFD")
	ua = strings.ReplaceAll(ua, "\x00", "")
	if len(ua) <= auditevents.MaxNameBytes {
		return ua
	}
	cut := auditevents.MaxNameBytes
	for cut > 0 && !utf8.RuneStart(ua[cut]) {
		cut--
	}
	return ua[:cut]
}

// validRequestID reports whether id is 1 to MaxRequestIDBytes of printable
// ASCII without spaces.
func validRequestID(id string) bool {
	if id == "" || len(id) > MaxRequestIDBytes {
		return false
	}
	for _, c := range []byte(id) {
		if c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// randomRequestID returns 32 random hexadecimal digits.
func randomRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// validHeaderName reports whether s is an HTTP header name (RFC 9110 token).
func validHeaderName(s string) bool {
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return s != ""
}
