package httpapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/auditevents/auditevents"
	"github.com/auditevents/auditevents/httpapi"
)

// actorOf runs a request from remote with the given headers (name, value
// pairs, a name repeated for several lines) through ActorMiddleware(opts)
// and returns the Actor the next handler found, and the response.
func actorOf(tb testing.TB, opts *httpapi.ActorOptions, remote string, headers ...string) (auditevents.Actor, *httptest.ResponseRecorder) {
	tb.Helper()
	mw, err := httpapi.ActorMiddleware(opts)
	if err != nil {
		tb.Fatalf("ActorMiddleware: %v", err)
	}
	var got auditevents.Actor
	var found bool
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, found = auditevents.ActorFromContext(r.Context())
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.RemoteAddr = remote
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}
	res := httptest.NewRecorder()
	h.ServeHTTP(res, req)
	if !found {
		tb.Fatal("no Actor in the request's context")
	}
	return got, res
}

// TestActorClientIP checks which address the middleware takes as the
// client's: spoofed headers from untrusted peers are ignored, and behind
// trusted proxies the right-most untrusted address of the chain is the
// client, so that a client cannot put another address in its audit
// events.
func TestActorClientIP(t *testing.T) {
	proxies := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8:ffff::/48"),
		netip.MustParsePrefix("::ffff:192.0.2.250/128"), // IPv4-mapped: matches 192.0.2.250
	}
	trusting := &httpapi.ActorOptions{TrustedProxies: proxies}
	rfc7239 := &httpapi.ActorOptions{TrustedProxies: proxies, ForwardedHeader: "forwarded"}
	xff, fwd := "X-Forwarded-For", "Forwarded"
	tests := []struct {
		name    string
		opts    *httpapi.ActorOptions
		remote  string
		headers []string
		want    string
	}{
		{"direct client", nil, "192.0.2.7:4711", nil, "192.0.2.7"},
		{"direct IPv6 client with a zone", nil, "[fe80::1%eth0]:4711", nil, "fe80::1"},
		{"IPv4-mapped peer", nil, "[::ffff:192.0.2.7]:4711", nil, "192.0.2.7"},
		{"peer without port", nil, "192.0.2.7", nil, "192.0.2.7"},
		{"unix socket peer", nil, "@", nil, ""},
		{"empty peer", nil, "", nil, ""},

		// Nobody is trusted by default: the headers are a client's word.
		{"spoofed X-Forwarded-For, nothing trusted", nil, "192.0.2.7:1", []string{xff, "203.0.113.9"}, "192.0.2.7"},
		{"spoofed Forwarded, nothing trusted", &httpapi.ActorOptions{ForwardedHeader: fwd}, "192.0.2.7:1", []string{fwd, "for=203.0.113.9"}, "192.0.2.7"},
		{"spoofed X-Forwarded-For from an untrusted peer", trusting, "192.0.2.7:1", []string{xff, "10.0.0.1, 203.0.113.9"}, "192.0.2.7"},
		{"spoofed Forwarded from an untrusted peer", rfc7239, "192.0.2.7:1", []string{fwd, "for=203.0.113.9"}, "192.0.2.7"},

		{"one trusted proxy", trusting, "10.0.0.1:1", []string{xff, "192.0.2.7"}, "192.0.2.7"},
		{"client-written entries left of the proxy's", trusting, "10.0.0.1:1", []string{xff, "203.0.113.9, 198.51.100.3, 192.0.2.7"}, "192.0.2.7"},
		{"chain of trusted proxies", trusting, "10.0.0.1:1", []string{xff, "203.0.113.9, 192.0.2.7, 10.0.0.3, 10.0.0.2"}, "192.0.2.7"},
		{"chain over several lines", trusting, "10.0.0.1:1", []string{xff, "203.0.113.9, 192.0.2.7", xff, "10.0.0.3", xff, "10.0.0.2"}, "192.0.2.7"},
		{"IPv6 proxies and ports", trusting, "[2001:db8:ffff::1]:443", []string{xff, "[2001:db8::7]:4711, [2001:db8:ffff::2]:80"}, "2001:db8::7"},
		{"IPv6 with a zone in the chain", trusting, "10.0.0.1:1", []string{xff, "fe80::7%25eth0, fe80::9%eth1"}, "fe80::9"},
		{"IPv4-mapped trusted proxy", trusting, "192.0.2.250:1", []string{xff, "198.51.100.3"}, "198.51.100.3"},
		{"only trusted proxies: the left-most", trusting, "10.0.0.1:1", []string{xff, "10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"trusted peer without header", trusting, "10.0.0.1:1", nil, "10.0.0.1"},
		{"X-Forwarded-For ignored when Forwarded is read", rfc7239, "10.0.0.1:1", []string{xff, "203.0.113.9"}, "10.0.0.1"},
		{"Forwarded ignored when X-Forwarded-For is read", trusting, "10.0.0.1:1", []string{fwd, "for=203.0.113.9"}, "10.0.0.1"},
		// A client's own Forwarded line, to which the trusted proxy appends
		// its element: trailing garbage or an open quote must not let the
		// client's for= stand in for the proxy's.
		{"garbage after a client's quoted value", rfc7239, "10.0.0.1:1", []string{fwd, `for="6.6.6.6"junk, for=192.0.2.7`}, "192.0.2.7"},
		{"a client's open quote swallowing the proxy's element", rfc7239, "10.0.0.1:1", []string{fwd, `for=6.6.6.6;x=", for="[2001:db8::7]:4711"`}, "10.0.0.1"},
		{"a client's open quote before a quoted host", rfc7239, "10.0.0.1:1", []string{fwd, `for=6.6.6.6;x=", for=192.0.2.7;host="example.com";proto=https`}, "10.0.0.1"},

		// Garbage ends the walk at the proxy that wrote it.
		{"garbage entry", trusting, "10.0.0.1:1", []string{xff, "192.0.2.7, not-an-ip"}, "10.0.0.1"},
		{"garbage behind a second proxy", trusting, "10.0.0.1:1", []string{xff, "junk, 10.0.0.2"}, "10.0.0.2"},
		{"garbage left of the client", trusting, "10.0.0.1:1", []string{xff, "<script>, 192.0.2.7"}, "192.0.2.7"},
		{"empty entry", trusting, "10.0.0.1:1", []string{xff, "192.0.2.7,,"}, "10.0.0.1"},
		{"unknown", trusting, "10.0.0.1:1", []string{xff, "unknown"}, "10.0.0.1"},
		{"prefix is no address", trusting, "10.0.0.1:1", []string{xff, "192.0.2.0/24"}, "10.0.0.1"},
		{"huge entry", trusting, "10.0.0.1:1", []string{xff, strings.Repeat("9", 10000)}, "10.0.0.1"},

		{"Forwarded", rfc7239, "10.0.0.1:1", []string{fwd, "for=192.0.2.7;proto=https;by=10.0.0.1"}, "192.0.2.7"},
		{"Forwarded quoted IPv6 with port", rfc7239, "10.0.0.1:1", []string{fwd, `For="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17"},
		{"Forwarded chain", rfc7239, "10.0.0.1:1", []string{fwd, `for=203.0.113.9, for=192.0.2.7;proto=http, for="10.0.0.2:80"`}, "192.0.2.7"},
		{"Forwarded chain over lines", rfc7239, "10.0.0.1:1", []string{fwd, `for=203.0.113.9, for=192.0.2.7`, fwd, `for=10.0.0.2`}, "192.0.2.7"},
		{"Forwarded obfuscated", rfc7239, "10.0.0.1:1", []string{fwd, `for=192.0.2.7, for=_hidden`}, "10.0.0.1"},
		{"Forwarded unknown", rfc7239, "10.0.0.1:1", []string{fwd, `for=unknown`}, "10.0.0.1"},
		{"Forwarded element without for", rfc7239, "10.0.0.1:1", []string{fwd, `for=192.0.2.7, proto=https`}, "10.0.0.1"},
		{"Forwarded two fors in one element", rfc7239, "10.0.0.1:1", []string{fwd, `for=203.0.113.9;for=192.0.2.7`}, "10.0.0.1"},
		{"Forwarded unterminated quote", rfc7239, "10.0.0.1:1", []string{fwd, `for="192.0.2.7`}, "10.0.0.1"},
		{"Forwarded escaped quote", rfc7239, "10.0.0.1:1", []string{fwd, `for="192.0.2.\"7"`}, "10.0.0.1"},
		{"Forwarded quoted comma", rfc7239, "10.0.0.1:1", []string{fwd, `for=192.0.2.7;x="a,for=203.0.113.9"`}, "192.0.2.7"},
		{"Forwarded garbage", rfc7239, "10.0.0.1:1", []string{fwd, `;;==,,"`}, "10.0.0.1"},
		{"Forwarded with a zone", rfc7239, "10.0.0.1:1", []string{fwd, `for="[fe80::7%eth0]:80"`}, "fe80::7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, _ := actorOf(t, tt.opts, tt.remote, tt.headers...)
			if got := a.IPAddress; got != tt.want {
				t.Errorf("IPAddress: got %q, want %q", got, tt.want)
			}
			if a.IPAddress != "" {
				e := auditevents.AuditEvent{IPAddress: a.IPAddress}
				if n := auditevents.Normalize(e); n.IPAddress != a.IPAddress {
					t.Errorf("IPAddress %q is not in canonical form %q", a.IPAddress, n.IPAddress)
				}
			}
		})
	}
}

// TestActorUserAgent checks that any User-Agent gives one that an event can
// hold, so that recording never fails because of a client's header.
func TestActorUserAgent(t *testing.T) {
	long := strings.Repeat("a", auditevents.MaxNameBytes-1) + "é" + "tail"
	tests := []struct{ name, ua, want string }{
		{"plain", "curl/8.5.0", "curl/8.5.0"},
		{"absent", "", ""},
		{"long, cut at a character", long, strings.Repeat("a", auditevents.MaxNameBytes-1)},
		{"invalid UTF-8", "bad\xff", "bad\uFFFD"},
		{"NUL", "a\x00b", "ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.ua != "" {
				headers = []string{"User-Agent", tt.ua}
			}
			a, _ := actorOf(t, nil, "192.0.2.7:1", headers...)
			if a.UserAgent != tt.want {
				t.Errorf("UserAgent: got %q (%d bytes), want %q", a.UserAgent, len(a.UserAgent), tt.want)
			}
			if !utf8.ValidString(a.UserAgent) || len(a.UserAgent) > auditevents.MaxNameBytes {
				t.Errorf("UserAgent %q is not valid UTF-8 within MaxNameBytes", a.UserAgent)
			}
		})
	}
	// An event recorded with the longest User-Agent validates.
	a, _ := actorOf(t, nil, "192.0.2.7:1", "User-Agent", strings.Repeat("ü", auditevents.MaxNameBytes))
	e := auditevents.AuditEvent{ID: "01JGKRQ3M8V63QXKKD6T5A4P2B", Timestamp: t0, User: "u", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent}
	e.SetActor(a)
	if err := e.Validate(); err != nil {
		t.Errorf("an event with the middleware's actor does not validate: %v", err)
	}
}

// TestActorRequestID checks that a valid request ID is taken from the
// request, that any other gets a new one, and that it is echoed when asked.
func TestActorRequestID(t *testing.T) {
	fixed := &httpapi.ActorOptions{NewRequestID: func() string { return "new-id" }, EchoRequestID: true}
	tests := []struct {
		name    string
		opts    *httpapi.ActorOptions
		headers []string
		want    string
	}{
		{"taken", fixed, []string{"X-Request-ID", "req-42"}, "req-42"},
		{"absent", fixed, nil, "new-id"},
		{"with a space", fixed, []string{"X-Request-ID", "a b"}, "new-id"},
		{"control character", fixed, []string{"X-Request-ID", "a\x01b"}, "new-id"},
		{"not ASCII", fixed, []string{"X-Request-ID", "réq"}, "new-id"},
		{"longest", fixed, []string{"X-Request-ID", strings.Repeat("x", httpapi.MaxRequestIDBytes)}, strings.Repeat("x", httpapi.MaxRequestIDBytes)},
		{"too long", fixed, []string{"X-Request-ID", strings.Repeat("x", httpapi.MaxRequestIDBytes+1)}, "new-id"},
		{"other header", &httpapi.ActorOptions{RequestIDHeader: "X-Correlation-Id", NewRequestID: func() string { return "new-id" }, EchoRequestID: true},
			[]string{"X-Correlation-Id", "corr-1", "X-Request-ID", "req-42"}, "corr-1"},
		{"broken generator", &httpapi.ActorOptions{NewRequestID: func() string { return "" }}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, res := actorOf(t, tt.opts, "192.0.2.7:1", tt.headers...)
			if tt.want == "" {
				if len(a.RequestID) != 32 {
					t.Errorf("RequestID: got %q, want 32 random hexadecimal digits", a.RequestID)
				}
				return
			}
			if a.RequestID != tt.want {
				t.Errorf("RequestID: got %q, want %q", a.RequestID, tt.want)
			}
			header := tt.opts.RequestIDHeader
			if header == "" {
				header = httpapi.DefaultRequestIDHeader
			}
			if got := res.Header().Get(header); got != tt.want {
				t.Errorf("echoed %s: got %q, want %q", header, got, tt.want)
			}
		})
	}
	// By default a new ID is random, and not echoed.
	a1, res := actorOf(t, nil, "192.0.2.7:1")
	a2, _ := actorOf(t, nil, "192.0.2.7:1")
	if len(a1.RequestID) != 32 || a1.RequestID == a2.RequestID {
		t.Errorf("new request IDs %q and %q: want two different 32-digit IDs", a1.RequestID, a2.RequestID)
	}
	if got := res.Header().Get(httpapi.DefaultRequestIDHeader); got != "" {
		t.Errorf("request ID echoed without EchoRequestID: %q", got)
	}
}

// TestActorOptionsRefused checks that options the middleware cannot use are
// refused rather than ignored: an ignored trusted proxy would turn every
// client into the proxy's address.
func TestActorOptionsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts httpapi.ActorOptions
	}{
		{"zero prefix", httpapi.ActorOptions{TrustedProxies: []netip.Prefix{{}}}},
		{"short IPv4-mapped prefix", httpapi.ActorOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("::ffff:0:0/80")}}},
		{"other forwarding header", httpapi.ActorOptions{ForwardedHeader: "X-Real-IP"}},
		{"bad request ID header", httpapi.ActorOptions{RequestIDHeader: "X Request"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := httpapi.ActorMiddleware(&tt.opts); !errors.Is(err, httpapi.ErrInvalidOptions) {
				t.Errorf("got %v, want ErrInvalidOptions", err)
			}
		})
	}
}

// TestActorRecorded records through RecordWithActor behind the middleware
// and reads the actor fields back from the listing, with the ip-address and
// request-id filters.
func TestActorRecorded(t *testing.T) {
	store, _ := newStore(t, fixture())
	rec := auditevents.NewRecorder(store, nil)
	mw, err := httpapi.ActorMiddleware(&httpapi.ActorOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	change := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := rec.RecordWithActor(r.Context(), auditevents.AuditEvent{User: "carol", Action: auditevents.ActionModified, ResourceKind: auditevents.KindConfiguration, ResourceName: "prod"})
		if err != nil {
			t.Errorf("RecordWithActor: %v", err)
		}
	}))
	req := httptest.NewRequest(http.MethodPut, "/configurations/prod", nil)
	req.RemoteAddr = "10.0.0.1:1234"
	req.Header.Set("X-Forwarded-For", "203.0.113.66, 198.51.100.3")
	req.Header.Set("User-Agent", "curl/8.5.0")
	req.Header.Set("X-Request-ID", "req-7")
	change.ServeHTTP(httptest.NewRecorder(), req)

	h := newHandler(t, store, nil)
	for _, target := range []string{
		"/v1/audit-events?request-id=req-7",
		"/v1/audit-events?ip-address=198.51.100.3",
		"/v1/audit-events?ip-address=198.51.100.0/24&user=carol",
	} {
		res := do(t, h.List(), http.MethodGet, target)
		events := decodeEvents(t, res.Body.Bytes())
		if len(events) != 1 {
			t.Fatalf("%s: got %d events, want 1", target, len(events))
		}
		if e := events[0]; e.IPAddress != "198.51.100.3" || e.UserAgent != "curl/8.5.0" || e.RequestID != "req-7" {
			t.Errorf("%s: actor fields %q %q %q, want 198.51.100.3, curl/8.5.0, req-7", target, e.IPAddress, e.UserAgent, e.RequestID)
		}
	}
}

// FuzzActor sends arbitrary forwarding headers and User-Agents from a
// trusted proxy and checks that the middleware never panics, and that the
// client it finds is the peer or an address written in the header, in
// canonical form, with a User-Agent that an event can hold.
func FuzzActor(f *testing.F) {
	for _, seed := range [][2]string{
		{"192.0.2.7", ""}, {"203.0.113.9, 192.0.2.7, 10.0.0.2", "curl/8"}, {"[2001:db8::7]:80", "\xff"},
		{"fe80::1%eth0", ""}, {`for="[2001:db8::17]:4711";proto=https, for=10.0.0.2`, ""}, {`for="`, ""},
		{`;;==,,"\`, ""}, {"unknown, _x", ""}, {strings.Repeat("1,", 100), ""},
	} {
		f.Add(seed[0], seed[1])
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	var mws []func(http.Handler) http.Handler
	for _, header := range []string{httpapi.HeaderXForwardedFor, httpapi.HeaderForwarded} {
		mw, err := httpapi.ActorMiddleware(&httpapi.ActorOptions{TrustedProxies: proxies, ForwardedHeader: header})
		if err != nil {
			f.Fatal(err)
		}
		mws = append(mws, mw)
	}
	f.Fuzz(func(t *testing.T, forwarded, ua string) {
		for i, mw := range mws {
			var a auditevents.Actor
			h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				a, _ = auditevents.ActorFromContext(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = "10.0.0.1:1234"
			req.Header.Set([]string{httpapi.HeaderXForwardedFor, httpapi.HeaderForwarded}[i], forwarded)
			req.Header.Set("User-Agent", ua)
			h.ServeHTTP(httptest.NewRecorder(), req)
			ip, err := netip.ParseAddr(a.IPAddress)
			if err != nil || ip.Zone() != "" || ip.Is4In6() || ip.String() != a.IPAddress {
				t.Fatalf("%q: IPAddress %q is not a canonical address without zone", forwarded, a.IPAddress)
			}
			if a.IPAddress != "10.0.0.1" && !strings.Contains(forwarded, strings.Trim(a.IPAddress, "[]")) && !strings.Contains(strings.ToLower(forwarded), a.IPAddress) {
				// An address may be written longer than its canonical form
				// (leading zeros in IPv6, a mapped IPv4): check it parses
				// from some piece of the header instead.
				found := false
				for _, piece := range strings.FieldsFunc(forwarded, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(",;=\"[]", r) }) {
					if p, err := netip.ParseAddr(piece); err == nil && p.WithZone("").Unmap() == ip {
						found = true
					}
					if p, err := netip.ParseAddrPort(piece); err == nil && p.Addr().WithZone("").Unmap() == ip {
						found = true
					}
				}
				if !found {
					t.Fatalf("%q: client %s is neither the peer nor in the header", forwarded, a.IPAddress)
				}
			}
			e := auditevents.AuditEvent{ID: "01JGKRQ3M8V63QXKKD6T5A4P2B", Timestamp: t0, User: "u", Action: auditevents.ActionCreated, ResourceKind: auditevents.KindAgent}
			e.SetActor(a)
			if err := e.Validate(); err != nil {
				t.Fatalf("User-Agent %q: the actor does not validate: %v", ua, err)
			}
		}
	})
}

// BenchmarkActorMiddleware measures the middleware's cost per request
// against a baseline, in the same run, that only puts an empty Actor in the
// request's context: for a direct client, and a client behind two trusted
// proxies.
func BenchmarkActorMiddleware(b *testing.B) {
	mw, err := httpapi.ActorMiddleware(&httpapi.ActorOptions{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	if err != nil {
		b.Fatal(err)
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	req := httptest.NewRequest(http.MethodGet, "/v1/configurations/prod", nil)
	req.RemoteAddr = "10.0.0.1:1234"
	req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	req.Header.Set("X-Request-ID", "req-7f3a")
	proxied := req.Clone(context.Background())
	proxied.Header.Set("X-Forwarded-For", "203.0.113.9, 198.51.100.3, 10.0.0.2")
	w := &discardWriter{header: http.Header{}}
	for _, bc := range []struct {
		name string
		h    http.Handler
		req  *http.Request
	}{
		// The least a middleware that puts an Actor in the context costs.
		{"baseline", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(auditevents.ContextWithActor(r.Context(), auditevents.Actor{})))
		}), req},
		{"direct", mw(next), req},
		{"proxied", mw(next), proxied},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.h.ServeHTTP(w, bc.req)
			}
		})
	}
}
