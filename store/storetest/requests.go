package storetest

import (
	"fmt"
	"math/rand/v2"

	"github.com/auditevents/auditevents"
)

// Requests gives events the actor context of a service whose every write
// comes from a client request, the worst case for the actor filters'
// indexes: each event gets a request ID shared by the one to three
// consecutive events of its request, an address of 2,000 clients (1,800
// IPv4 addresses in 40 networks, 200 IPv6 addresses) and one of 20
// browser user agents. It is deterministic from its seed and keeps its
// place between calls, so events given in batches get what one call would
// give them. The benchmarks of the actor filters use it; [Generator]
// gives the more realistic mix, where some events carry no context.
type Requests struct {
	rng     *rand.Rand
	request string // the current request's ID
	left    int    // events the current request has still to give
}

// NewRequests returns a Requests whose choices follow seed.
func NewRequests(seed uint64) *Requests {
	return &Requests{rng: rand.New(rand.NewPCG(seed, 2))}
}

// Fill sets the IP address, the user agent and the request ID of every
// event of events, and returns events.
func (r *Requests) Fill(events []auditevents.AuditEvent) []auditevents.AuditEvent {
	for i := range events {
		e := &events[i]
		if r.left == 0 {
			r.request = fmt.Sprintf("%016x%016x", r.rng.Uint64(), r.rng.Uint64())
			r.left = 1 + r.rng.IntN(3)
		}
		r.left--
		e.RequestID = r.request
		if c := r.rng.IntN(2000); c < 200 {
			e.IPAddress = fmt.Sprintf("2001:db8:%x::%x", c%7, c)
		} else {
			e.IPAddress = fmt.Sprintf("10.%d.%d.%d", c%40/10, c%40, c/40)
		}
		e.UserAgent = fmt.Sprintf("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.0.0 Safari/537.36", 100+r.rng.IntN(20))
	}
	return events
}

// WithActors gives some of events actor fields in a fixed pattern, and
// returns them normalized, as stores keep them: half an IPv4 address of a
// few hosts (10.0.0.0/22), a tenth an IPv6 one (2001:db8::/64); three in
// four a request ID "req-N" shared by three consecutive events and a user
// agent "client/N"; one in six metadata with the keys "session" and
// "region". Tests of a store's actor indexes use it for data whose
// addresses and request IDs they can name.
func WithActors(events []auditevents.AuditEvent) []auditevents.AuditEvent {
	for i := range events {
		e := &events[i]
		switch {
		case i%2 == 0:
			e.IPAddress = fmt.Sprintf("10.0.%d.%d", i%3, i%13)
		case i%10 == 1:
			e.IPAddress = fmt.Sprintf("2001:db8::%d", i%7)
		}
		if i%4 != 3 {
			e.RequestID = fmt.Sprintf("req-%d", i/3)
			e.UserAgent = fmt.Sprintf("client/%d", i%5)
		}
		if i%6 == 0 {
			e.Metadata = map[string]string{"session": fmt.Sprintf("s-%d", i/10), "region": "eu"}
		}
		*e = auditevents.Normalize(*e)
	}
	return events
}
