package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
)

func TestGeneratorIsDeterministic(t *testing.T) {
	a := NewGenerator(7).Events(2000)
	b := NewGenerator(7).Events(2000)
	if !slices.EqualFunc(a, b, equalEvents) {
		t.Fatal("two generators with seed 7 made different events")
	}
	c := NewGenerator(8).Events(2000)
	if slices.EqualFunc(a, c, equalEvents) {
		t.Fatal("seeds 7 and 8 made the same events")
	}
}

func TestGeneratorMakesRealisticData(t *testing.T) {
	const n = 20000
	data := NewGenerator(1).Events(n)
	if _, err := auditevents.PrepareBatch(data); err != nil {
		t.Fatalf("the generated events are not valid: %v", err)
	}
	kinds := map[auditevents.Kind]bool{}
	users := map[string]bool{}
	var bare, versioned, sharedTimestamps int
	for i, e := range data {
		kinds[e.ResourceKind] = true
		users[e.User] = true
		if e.Timestamp.Before(GeneratorStart) || !e.Timestamp.Before(GeneratorEnd) {
			t.Fatalf("event %d at %v, outside [%v, %v)", i, e.Timestamp, GeneratorStart, GeneratorEnd)
		}
		if i > 0 {
			if e.Timestamp.Before(data[i-1].Timestamp) {
				t.Fatalf("event %d is older than event %d", i, i-1)
			}
			if e.Timestamp.Equal(data[i-1].Timestamp) {
				sharedTimestamps++
			}
		}
		if e.Configuration != "" {
			if _, v := cutVersion(e.Configuration); !v {
				bare++
			} else {
				versioned++
			}
		}
	}
	if got, want := len(kinds), len(auditevents.Kinds()); got != want {
		t.Errorf("%d kinds occur, want every one of %d", got, want)
	}
	if got, want := len(users), GeneratorUsers; got != want {
		t.Errorf("%d users occur, want %d", got, want)
	}
	if bare == 0 || versioned == 0 {
		t.Errorf("configurations: %d without a version, %d with; want both forms", bare, versioned)
	}
	if sharedTimestamps == 0 {
		t.Error("no two events share a timestamp; want some, to exercise the ID tiebreak")
	}
}

// A realistic share of the events carries actor context: most, not all, with
// both address families, and some with metadata; the events of one bulk
// operation share their request ID.
func TestGeneratorActorFields(t *testing.T) {
	const n = 20000
	data := NewGenerator(1).Events(n)
	var actor, v6, metadata, sharedRequest int
	requests := map[string]int{}
	for i, e := range data {
		if !e.HasActor() {
			continue
		}
		actor++
		if strings.Contains(e.IPAddress, ":") {
			v6++
		}
		if len(e.Metadata) > 0 {
			metadata++
		}
		requests[e.RequestID]++
		if i > 0 && e.Timestamp.Equal(data[i-1].Timestamp) && data[i-1].RequestID != "" && e.RequestID == data[i-1].RequestID {
			sharedRequest++
		}
	}
	if actor < n*6/10 || actor > n*8/10 {
		t.Errorf("%d of %d events carry actor context, want about 7 in 10", actor, n)
	}
	if v6 < actor/5 || v6 > actor/2 {
		t.Errorf("%d of %d addresses are IPv6, want about 1 in 3", v6, actor)
	}
	if metadata < n/100 || metadata > n/40 {
		t.Errorf("%d of %d events carry metadata, want about 1 in 60", metadata, n)
	}
	if sharedRequest == 0 {
		t.Error("no bulk operation shares its request ID")
	}
}

func TestGeneratorEventAnyTime(t *testing.T) {
	g := NewGenerator(1)
	for _, ts := range []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_000, time.UTC),
	} {
		e := g.Event(ts)
		if err := e.Validate(); err != nil {
			t.Errorf("Event(%s) is not valid: %v", ts, err)
		}
	}
}

// A count of 0 or less makes no events, and no query shapes come from no
// events, rather than a panic in a caller's test.
func TestGeneratorNoEvents(t *testing.T) {
	g := NewGenerator(1)
	for _, n := range []int{0, -1} {
		if got := g.Events(n); len(got) != 0 {
			t.Errorf("Events(%d) made %d events, want none", n, len(got))
		}
		if got := g.After(n); len(got) != 0 {
			t.Errorf("After(%d) made %d events, want none", n, len(got))
		}
	}
	if got := QueryShapes(nil); got != nil {
		t.Errorf("QueryShapes(nil) = %v, want nil", got)
	}
}

// Every query shape of the benchmarks selects some of the events it was
// picked from, so that no benchmark measures an empty answer by mistake.
func TestQueryShapesSelectEvents(t *testing.T) {
	events := NewGenerator(1).Events(20000)
	for _, shape := range QueryShapes(events) {
		if got := expect(events, shape.Query); len(got) == 0 {
			t.Errorf("query shape %s (%s) selects no event", shape.Name, describe(shape.Query))
		}
	}
}

func equalEvents(a, b auditevents.AuditEvent) bool { return a.Equal(&b) }
