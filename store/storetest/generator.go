package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/oklog/ulid/v2"
)

// The shape of the data a [Generator] makes: [Generator.Events] spreads its
// events over the 365 days before GeneratorEnd, among GeneratorUsers users,
// GeneratorConfigurations configurations and the accounts of
// [GeneratorAccounts].
const (
	GeneratorUsers          = 50
	GeneratorConfigurations = 500
)

// GeneratorEnd is the end of the year that [Generator.Events] fills; events
// from [Generator.After] follow it.
var GeneratorEnd = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// GeneratorStart is the start of the year that [Generator.Events] fills,
// 365 days before [GeneratorEnd].
var GeneratorStart = GeneratorEnd.AddDate(0, 0, -365)

// GeneratorAccounts returns the accounts a [Generator]'s events occur on:
// "" (the default account of a single-account install, which about half of
// the users and configurations belong to) and three others.
func GeneratorAccounts() []string { return slices.Clone(genAccounts) }

var genAccounts = []string{"", "acme-prod", "acme-staging", "globex"}

// kindWeights says how often each kind occurs, per thousand events; every
// kind not listed occurs with weight 2. Configuration changes and rollouts
// dominate real audit trails, then agents and components.
var kindWeights = map[auditevents.Kind]int{
	auditevents.KindConfiguration: 300,
	auditevents.KindRollout:       140,
	auditevents.KindAgent:         90,
	auditevents.KindSource:        60,
	auditevents.KindProcessor:     60,
	auditevents.KindDestination:   50,
	auditevents.KindLogin:         60,
	auditevents.KindUser:          15,
	auditevents.KindAPIKey:        10,
	auditevents.KindFleet:         15,
	auditevents.KindCredential:    8,
	auditevents.KindConnector:     10,
	auditevents.KindExtension:     8,
}

// Generator makes realistic audit events, deterministically: two Generators
// made with the same seed and called the same way make the same events, IDs
// included. Its events are what a Bindplane-like host records: users acting
// on configurations that gain versions and are deleted and created again,
// rollouts of those versions, agents, components, logins, users and API
// keys. Every [auditevents.Kind] occurs (the rarest about twice in a
// thousand events); most events (about three in four) carry a configuration
// as "name:version" and a few as a bare name; descriptions hold commas,
// quotes, line breaks and text a spreadsheet would run as a formula. About
// seven events in ten carry actor context, as those recorded from a request
// do: the user's usual IP address (IPv4 for two users in three, IPv6 for
// the others; another address about one time in ten), the user's browser
// or tool as the user agent, and a request ID that the events of one bulk
// operation share; a third of the logins among them also carry metadata
// (the identity provider and its session), about one event in sixty. The
// rest, as those recorded by jobs, carry none. The actor fields come from a
// random stream of their own, so the other fields are those a Generator
// made before they existed. The events are valid for
// [auditevents.Store.Append], and their IDs unique.
//
// It makes the data of [RunBenchmarks], of this module's benchmark program
// and of most tests of its stores and HTTP API, and a third party's store
// can test with it too. A Generator is not safe for concurrent use.
type Generator struct {
	rng     *rand.Rand
	entropy *rand.ChaCha8 // the random part of IDs
	actor   *rand.Rand    // the actor fields' choices, apart so the others stay as they were

	lastRequest string // the request ID of the last event, for a bulk operation's next

	users      []genUser
	userCDF    []float64
	configs    []genConfig
	kinds      []auditevents.Kind
	kindCDF    []float64
	lastTS     time.Time
	agentCount int
}

type genUser struct {
	name      string
	account   string
	ip        string // the address the user usually works from
	userAgent string
}

type genConfig struct {
	name    string
	account string
	version int
	deleted bool
}

// NewGenerator returns a Generator whose events follow from seed.
func NewGenerator(seed uint64) *Generator {
	var key [32]byte
	for i := range 8 {
		key[i] = byte(seed >> (8 * i))
	}
	key[31] = 'i' // IDs and choices come from different streams
	g := &Generator{
		rng:        rand.New(rand.NewPCG(seed, 0x5eed)),
		entropy:    rand.NewChaCha8(key),
		actor:      rand.New(rand.NewPCG(seed, 0xac7)),
		agentCount: 2000,
	}
	first := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yvonne"}
	last := []string{"smith", "jones", "garcia", "miller", "davis", "lopez", "wilson", "moore", "taylor", "lee"}
	var weights []float64
	for i := range GeneratorUsers {
		name := first[i%len(first)] + "." + last[(i*7)%len(last)]
		if i >= len(first) {
			name += strconv.Itoa(i / len(first))
		}
		g.users = append(g.users, genUser{
			name:      name + "@example.com",
			account:   genAccounts[g.pickAccount()],
			ip:        g.address(),
			userAgent: userAgents[g.actor.IntN(len(userAgents))],
		})
		weights = append(weights, 0.5+g.rng.Float64()) // some users are busier than others
	}
	g.userCDF = cdf(weights)

	words := []string{"k8s", "linux", "windows", "edge", "gateway", "payments", "billing", "search", "frontend", "backend", "ingest", "metrics", "logs", "traces", "security", "audit", "eu-west", "us-east", "ap-south", "staging"}
	for i := range GeneratorConfigurations {
		name := fmt.Sprintf("%s-%s-%03d", words[i%len(words)], words[(i/len(words)+i*3)%len(words)], i)
		g.configs = append(g.configs, genConfig{name: name, account: genAccounts[g.pickAccount()], version: 1 + g.rng.IntN(5)})
	}

	weights = weights[:0]
	for _, k := range auditevents.Kinds() {
		w, ok := kindWeights[k]
		if !ok {
			w = 2
		}
		g.kinds = append(g.kinds, k)
		weights = append(weights, float64(w))
	}
	g.kindCDF = cdf(weights)
	return g
}

// pickAccount returns an index into genAccounts: the default account half
// the time.
func (g *Generator) pickAccount() int {
	if g.rng.IntN(2) == 0 {
		return 0
	}
	return 1 + g.rng.IntN(len(genAccounts)-1)
}

func cdf(weights []float64) []float64 {
	out := make([]float64, len(weights))
	var sum float64
	for i, w := range weights {
		sum += w
		out[i] = sum
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func (g *Generator) pick(cdf []float64) int {
	i, _ := slices.BinarySearch(cdf, g.rng.Float64())
	return min(i, len(cdf)-1)
}

// Events returns n events with timestamps spread over the 365 days before
// [GeneratorEnd], more of them in working hours, in timestamp order (the
// order they would have been recorded in). About one event in a hundred
// shares its timestamp with the one before, as events of one bulk operation
// do, so the ID tiebreak of the result order is exercised. It returns
// none for an n of 0 or less.
func (g *Generator) Events(n int) []auditevents.AuditEvent {
	if n <= 0 {
		return nil
	}
	span := GeneratorEnd.Sub(GeneratorStart)
	times := make([]time.Time, n)
	for i := range times {
		t := GeneratorStart.Add(time.Duration(g.rng.Int64N(int64(span))))
		if h := t.Hour(); (h < 8 || h >= 19) && g.rng.IntN(3) > 0 {
			t = t.Add(time.Duration(9+g.rng.IntN(9)-h) * time.Hour) // move most night events into the day
			if !t.Before(GeneratorEnd) {
				t = t.Add(-24 * time.Hour)
			}
		}
		times[i] = t.Truncate(time.Microsecond)
	}
	slices.SortFunc(times, time.Time.Compare)
	out := make([]auditevents.AuditEvent, n)
	for i, t := range times {
		if i > 0 && g.rng.IntN(100) == 0 {
			t = times[i-1]
		}
		out[i] = g.Event(t)
	}
	return out
}

// After returns n events that follow the last one made (and
// [GeneratorEnd]), one to three milliseconds apart, as new events recorded
// live. It returns none for an n of 0 or less.
func (g *Generator) After(n int) []auditevents.AuditEvent {
	if n <= 0 {
		return nil
	}
	out := make([]auditevents.AuditEvent, n)
	t := GeneratorEnd
	if g.lastTS.After(t) {
		t = g.lastTS
	}
	for i := range out {
		t = t.Add(time.Duration(1000+g.rng.IntN(2000)) * time.Microsecond)
		out[i] = g.Event(t)
	}
	return out
}

var (
	rolloutActions = []auditevents.Action{auditevents.ActionPending, auditevents.ActionStarted, auditevents.ActionPaused, auditevents.ActionResumed}
	crudActions    = []auditevents.Action{auditevents.ActionCreated, auditevents.ActionModified, auditevents.ActionModified, auditevents.ActionModified, auditevents.ActionDeleted}
	components     = map[auditevents.Kind][]string{
		auditevents.KindSource:      {"otlp", "filelog", "k8s-events", "journald", "prometheus", "windows-events", "syslog"},
		auditevents.KindProcessor:   {"batch", "filter-severity", "add-fields", "dedupe", "mask-pii", "sampling"},
		auditevents.KindDestination: {"google-cloud", "splunk-hec", "datadog", "s3-archive", "elasticsearch", "kafka"},
	}
)

// Event returns one event at t, with a new ID whose time part is t's
// millisecond (clamped to the range a ULID can hold); it is valid unless t
// is the zero time.
func (g *Generator) Event(t time.Time) auditevents.AuditEvent {
	u := g.users[g.pick(g.userCDF)]
	kind := g.kinds[g.pick(g.kindCDF)]
	e := auditevents.AuditEvent{
		ID:           g.id(t),
		Timestamp:    t,
		Account:      u.account,
		User:         u.name,
		ResourceKind: kind,
	}
	g.setActor(&e, u)
	g.lastTS = t
	switch kind {
	case auditevents.KindConfiguration:
		c := &g.configs[g.rng.IntN(len(g.configs))]
		e.Account = c.account
		e.ResourceName = c.name
		switch {
		case c.deleted:
			c.deleted, c.version = false, 1
			e.Action = auditevents.ActionCreated
			e.Configuration = c.name + ":1"
			e.Description = "Created configuration " + c.name
		case g.rng.IntN(40) == 0:
			c.deleted = true
			e.Action = auditevents.ActionDeleted
			e.Configuration = c.name // a deleted configuration has no version
			e.Description = "Deleted configuration " + c.name + ", " + strconv.Itoa(c.version) + " versions"
		default:
			c.version++
			e.Action = auditevents.ActionModified
			e.Configuration = c.name + ":" + strconv.Itoa(c.version)
			e.Description = g.modification(c.name)
		}
	case auditevents.KindRollout:
		c := &g.configs[g.rng.IntN(len(g.configs))]
		e.Account = c.account
		e.Action = rolloutActions[g.rng.IntN(len(rolloutActions))]
		e.Configuration = c.name + ":" + strconv.Itoa(c.version)
		e.ResourceName = e.Configuration
		agents := 1 + g.rng.IntN(400)
		switch e.Action {
		case auditevents.ActionPending:
			e.Description = fmt.Sprintf("Rollout of %s version %d pending for %d agents", c.name, c.version, agents)
		case auditevents.ActionStarted:
			e.Description = fmt.Sprintf("Rollout started: %d agents, 10%% at a time", agents)
		case auditevents.ActionPaused:
			e.Description = fmt.Sprintf(`Rollout paused after %d errors, "max errors" reached`, 1+g.rng.IntN(9))
		default:
			e.Description = "Rollout resumed"
		}
	case auditevents.KindSource, auditevents.KindProcessor, auditevents.KindDestination:
		c := &g.configs[g.rng.IntN(len(g.configs))]
		e.Account = c.account
		names := components[kind]
		e.ResourceName = names[g.rng.IntN(len(names))] + "-" + strconv.Itoa(g.rng.IntN(20))
		e.Action = crudActions[g.rng.IntN(len(crudActions))]
		e.Configuration = c.name + ":" + strconv.Itoa(c.version)
		if g.rng.IntN(3) > 0 {
			e.Description = fmt.Sprintf("%s %s %s in %s", e.Action, kind, e.ResourceName, c.name)
		}
	case auditevents.KindAgent:
		e.ResourceName = fmt.Sprintf("agent-%04x-%s", g.rng.IntN(g.agentCount), []string{"linux", "windows", "macos", "k8s"}[g.rng.IntN(4)])
		e.Action = crudActions[g.rng.IntN(len(crudActions))]
		if g.rng.IntN(2) == 0 {
			c := &g.configs[g.rng.IntN(len(g.configs))]
			e.Configuration = c.name + ":" + strconv.Itoa(c.version)
			e.Description = "Agent assigned to " + c.name
		}
	case auditevents.KindLogin:
		e.ResourceName = u.name
		e.Action = auditevents.ActionCreated
		if g.rng.IntN(10) == 0 {
			e.Description = "Login failed: invalid password, attempt " + strconv.Itoa(1+g.rng.IntN(5))
		}
	case auditevents.KindUser:
		e.ResourceName = g.users[g.rng.IntN(len(g.users))].name
		e.Action = crudActions[g.rng.IntN(len(crudActions))]
		if e.Action == auditevents.ActionModified {
			e.Description = "Role changed to " + []string{"admin", "user", "viewer"}[g.rng.IntN(3)]
		}
	case auditevents.KindAPIKey:
		e.ResourceName = fmt.Sprintf("ci-key-%02d", g.rng.IntN(30))
		e.Action = []auditevents.Action{auditevents.ActionCreated, auditevents.ActionDeleted}[g.rng.IntN(2)]
	default:
		e.ResourceName = fmt.Sprintf("%s-%d", kind, g.rng.IntN(50))
		e.Action = crudActions[g.rng.IntN(len(crudActions))]
		if g.rng.IntN(4) == 0 {
			e.Description = "=HYPERLINK(\"changed via API\")" // a cell a spreadsheet would run
		}
	}
	return e
}

// userAgents are the clients the users of a Generator work with.
var userAgents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_7_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"bindplane-cli/1.84.0 (linux/amd64)",
	"terraform-provider-bindplane/1.6.2",
	"curl/8.5.0",
	"Go-http-client/2.0",
}

// address returns a client address: IPv4 from the documentation networks
// two times in three, else IPv6 from 2001:db8::/32.
func (g *Generator) address() string {
	if g.actor.IntN(3) > 0 {
		nets := []string{"192.0.2.", "198.51.100.", "203.0.113."}
		return nets[g.actor.IntN(len(nets))] + strconv.Itoa(1+g.actor.IntN(254))
	}
	return fmt.Sprintf("2001:db8:%x:%x::%x", g.actor.IntN(4), g.actor.IntN(16), 1+g.actor.IntN(0xfffe))
}

// setActor gives e the actor context of a request by u, or none, as
// [Generator] describes.
func (g *Generator) setActor(e *auditevents.AuditEvent, u genUser) {
	bulk := e.Timestamp.Equal(g.lastTS) && g.lastRequest != ""
	if !bulk && g.actor.IntN(10) >= 7 {
		g.lastRequest = ""
		return // recorded by a job
	}
	e.IPAddress, e.UserAgent = u.ip, u.userAgent
	if g.actor.IntN(10) == 0 {
		e.IPAddress = g.address() // travelling, or another network
	}
	if !bulk {
		g.lastRequest = fmt.Sprintf("%016x%016x", g.actor.Uint64(), g.actor.Uint64())
	}
	e.RequestID = g.lastRequest
	if e.ResourceKind == auditevents.KindLogin && g.actor.IntN(3) == 0 {
		// A login through an identity provider records its session.
		e.Metadata = map[string]string{
			"idp":     []string{"okta", "google", "azure-ad"}[g.actor.IntN(3)],
			"session": fmt.Sprintf("s-%06d", g.actor.IntN(1000000)),
		}
		if g.actor.IntN(4) == 0 {
			e.Metadata["mfa"] = "totp"
		}
	}
}

// id returns a new ULID for an event at t.
func (g *Generator) id(t time.Time) string {
	var ms uint64
	switch {
	case t.Before(time.UnixMilli(0)):
		ms = 0
	case t.After(ulid.Time(ulid.MaxTime())):
		ms = ulid.MaxTime()
	default:
		ms = ulid.Timestamp(t)
	}
	return ulid.MustNew(ms, g.entropy).String()
}

func (g *Generator) modification(config string) string {
	switch g.rng.IntN(6) {
	case 0:
		return ""
	case 1:
		return "Updated processor batch: send_batch_size 8192, timeout 200ms"
	case 2:
		return "Added destination splunk-hec to " + config
	case 3:
		return "Removed source filelog\nfrom " + config
	case 4:
		return "Changed labels: env=prod, team=\"platform\""
	default:
		return "Edited in the UI"
	}
}
