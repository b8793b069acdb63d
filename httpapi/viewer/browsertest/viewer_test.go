package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/auditevents/auditevents"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the README's screenshot, httpapi/viewer/screenshot.png")

// zone is the browser's time zone: the page shows times in it.
const zone = "Europe/Paris"

// page drives one tab of the browser.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p *page) do(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression in the page, awaiting a promise.
func eval[T any](p *page, js string) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// settled waits until the page has read every event of its query, or
// shows that there are none or an error, and returns that state. It asks
// again when a navigation replaces the document it asked.
func (p *page) settled() string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	const wait = `new Promise((resolve) => {
		const check = () => {
			const s = document.documentElement.dataset.state;
			if (["done", "empty", "error"].includes(s)) resolve(s);
			else requestAnimationFrame(check);
		};
		check();
	})`
	for {
		state, err := chromedp.Run(ctx, chromedp.Evaluate[string](wait, chromedp.EvalAwaitPromise))
		if err == nil {
			return state
		}
		if ctx.Err() != nil {
			p.t.Fatalf("waiting for the page to settle: %v", err)
		}
		// The document was replaced while the promise waited: ask the new one.
	}
}

// follow clicks the link that sel selects and returns once the document it
// leads to has replaced the current one, so that what is asked next is
// asked of the new document: the old one is marked before the click, and
// the page is asked until a document without the mark has loaded.
func (p *page) follow(sel string) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`document.documentElement.dataset.followed = "from"`))
	p.do(chromedp.Click(chromedp.CSS(sel)))
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	for {
		arrived, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.readyState === "complete" && document.documentElement.dataset.followed === undefined`))
		if err == nil && arrived {
			return
		}
		if ctx.Err() != nil {
			p.t.Fatalf("waiting for the page that %s leads to: %v", sel, ctx.Err())
		}
		// The old document is still there, or was replaced while asked.
	}
}

// rows returns the IDs of the rows the table shows, in order.
func (p *page) rows() []string {
	return eval[[]string](p, `[...document.querySelectorAll("#events .chunk .row")].map((r) => r.dataset.id)`)
}

// count returns the number of events the page says it has read: the
// table's aria-rowcount, less its header row.
func (p *page) count() int {
	return eval[int](p, `Number(document.getElementById("events").getAttribute("aria-rowcount")) - 1`)
}

func (p *page) status() string {
	return eval[string](p, `document.getElementById("status").textContent`)
}

func (p *page) query() url.Values {
	v, err := url.ParseQuery(strings.TrimPrefix(eval[string](p, `location.search`), "?"))
	if err != nil {
		p.t.Fatal(err)
	}
	return v
}

func (p *page) screenshot(dir, name string) []byte {
	p.t.Helper()
	b, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	return b
}

// sameOrigin fails the test when the page has requested anything from
// another origin since it loaded.
func (p *page) sameOrigin() {
	p.t.Helper()
	others := eval[[]string](p, `performance.getEntriesByType("resource").map((e) => e.name).filter((u) => new URL(u).origin !== location.origin)`)
	if len(others) > 0 {
		p.t.Errorf("the page requested other origins: %q", others)
	}
}

func (p *page) signIn(key string) {
	p.t.Helper()
	p.do(
		chromedp.WaitVisible(chromedp.ID("signin-key")),
		chromedp.SendKeys(chromedp.ID("signin-key"), key),
		chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
	)
}

// openBrowser starts Chromium with a fresh profile, in the time zone
// zone, until the test ends. It returns its tab, and a func that returns
// the errors written to the tab's console so far. Chromium logs the
// responses with status 400, 401 and 403 that the tests provoke on purpose
// as failed loads; those are left out.
func openBrowser(t *testing.T, exe string) (*page, func() []string) {
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", exe, err)
	}
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: zone}); err != nil {
		t.Fatal(err)
	}
	var (
		mu     sync.Mutex
		errors []string
	)
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
				continue
			}
			if strings.Contains(m.Text, "status of 401") || strings.Contains(m.Text, "status of 403") || strings.Contains(m.Text, "status of 400") {
				continue
			}
			mu.Lock()
			errors = append(errors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
			mu.Unlock()
		}
	}()
	return &page{t: t, ctx: ctx}, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(errors)
	}
}

func TestViewer(t *testing.T) {
	exe := chromium(t)
	dir := artifacts(t)
	db, events := seedStore(t)
	srv := startServer(t, db)
	t.Logf("viewer at %s; screenshots and measurements in %s", srv.viewer, dir)
	paris, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}

	p, consoleErrors := openBrowser(t, exe)
	ctx := p.ctx

	main := events[mainAccount]
	mainIDs := make([]string, len(main))
	for i, e := range main {
		mainIDs[i] = e.ID
	}
	measures := map[string]string{}

	t.Run("sign in", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Navigate(srv.viewer))
		p.signIn("wrong")
		if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.querySelector("#signin .error") !== null`, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
			t.Fatalf("after a wrong key the sign-in form shows no error: %v", err)
		}
		if got := eval[string](p, `document.querySelector("#signin .error").textContent`); !strings.Contains(got, "Not signed in") {
			t.Errorf("after a wrong key the sign-in form says %q, want it to say the page is not signed in", got)
		}
		p.signIn(mainKey)
		if got := p.settled(); got != "done" {
			t.Fatalf("after signing in the page is %q: %s", got, p.status())
		}
		if got := eval[string](p, `sessionStorage.getItem("auditevents.key")`); got != mainKey {
			t.Errorf("sessionStorage holds %q, want the key", got)
		}
		if loc := eval[string](p, `location.href`); strings.Contains(loc, mainKey) {
			t.Errorf("the key is in the page's URL %s", loc)
		}
	})

	t.Run("first page", func(t *testing.T) {
		p.t = t
		if got, want := p.count(), mainEvents; got != want {
			t.Errorf("the page read %d events, want %d", got, want)
		}
		rows := p.rows()
		if len(rows) == 0 || len(rows) > 200 {
			t.Fatalf("the table shows %d rows before scrolling, want a page of them", len(rows))
		}
		if len(rows) > len(mainIDs) || !slices.Equal(rows, mainIDs[:len(rows)]) {
			t.Errorf("the rows are not the account's newest events, in order")
		}
		// Times are local with UTC on hover.
		cell := eval[[]string](p, `(() => { const c = document.querySelector("#events .chunk .row .time"); return [c.textContent, c.title]; })()`)
		ts := main[0].Timestamp
		if want := ts.In(paris).Format("2006-01-02 15:04:05"); cell[0] != want {
			t.Errorf("the first time reads %q, want %q, the time in %s", cell[0], want, zone)
		}
		if want := ts.UTC().Format(auditevents.TimestampLayout) + " (UTC)"; cell[1] != want {
			t.Errorf("the first time's title is %q, want %q", cell[1], want)
		}
		for _, name := range []string{"auditevents:first-response", "auditevents:first-render"} {
			d := eval[float64](p, `performance.getEntriesByName("`+name+`").map((e) => e.duration).pop() || -1`)
			measures[name] = fmt.Sprintf("%.1f ms", d)
		}
	})

	t.Run("hostile fields show as text", func(t *testing.T) {
		p.t = t
		var hostileIDs []string
		for _, e := range main {
			if slices.Contains(hostile, e.User) {
				hostileIDs = append(hostileIDs, e.ID)
			}
		}
		for _, id := range hostileIDs {
			var e auditevents.AuditEvent
			for _, m := range main {
				if m.ID == id {
					e = m
				}
			}
			cells := eval[[]string](p, `[...document.querySelector('#events .row[data-id="`+id+`"]').children].map((c) => c.textContent)`)
			want := []string{e.Timestamp.In(paris).Format("2006-01-02 15:04:05"), shown(e.User), shown(string(e.Action)),
				string(e.ResourceKind), shown(e.ResourceName), shown(e.Configuration), shown(e.Description)}
			if !slices.Equal(cells, want) {
				t.Errorf("event %s shows\n%q\nwant\n%q", id, cells, want)
			}
		}
		if n := eval[int](p, `document.querySelectorAll("img, iframe, object, embed, script:not([src]), [onerror], [onload]").length`); n != 0 {
			t.Errorf("the page holds %d elements that hostile fields could have made", n)
		}
		if got := eval[string](p, `String(window.pwned)`); got != "undefined" {
			t.Errorf("window.pwned is %s: a hostile field ran as script", got)
		}
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#events .row[data-id="` + hostileIDs[0] + `"]').scrollIntoView({block: "center"})`))
		p.screenshot(dir, "hostile.png")
	})

	t.Run("screenshots", func(t *testing.T) {
		p.t = t
		// The pointer away from the histogram, whose bars it highlights.
		if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: 1, Y: 1}); err != nil {
			t.Fatal(err)
		}
		p.do(chromedp.Evaluate[chromedp.Void](`scrollTo(0, 0)`))
		p.screenshot(dir, "light.png")
		// The README's, at three quarters of the size, to stay small.
		small, err := chromedp.Call(ctx, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{
			Clip: &cdppage.Viewport{Width: 1280, Height: 720, Scale: 0.75}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "readme.png"), small.Data, 0o644); err != nil {
			t.Fatal(err)
		}
		if *updateScreenshot {
			if err := os.WriteFile("../screenshot.png", small.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		dark := func(on bool) {
			f := []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "light"}}
			if on {
				f[0].Value = "dark"
			}
			if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: f}); err != nil {
				t.Fatal(err)
			}
		}
		dark(true)
		bg := eval[string](p, `getComputedStyle(document.body).backgroundColor`)
		p.screenshot(dir, "dark.png")
		dark(false)
		if bg == eval[string](p, `getComputedStyle(document.body).backgroundColor`) {
			t.Errorf("the dark theme has the light theme's background %s", bg)
		}
		if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true}); err != nil {
			t.Fatal(err)
		}
		p.do(chromedp.Navigate(srv.viewer))
		p.settled()
		if w := eval[int](p, `document.documentElement.scrollWidth`); w > 390 {
			t.Errorf("at phone width the page is %d pixels wide, more than the screen's 390", w)
		}
		p.screenshot(dir, "phone.png")
		p.do(chromedp.Click(chromedp.CSS("#filters-box > summary")))
		p.screenshot(dir, "phone-filters.png")
		if _, err := chromedp.Call(ctx, emulation.ClearDeviceMetricsOverride, struct{}{}); err != nil {
			t.Fatal(err)
		}
		p.do(chromedp.Navigate(srv.viewer))
		p.settled()
	})

	t.Run("detail panel and keyboard", func(t *testing.T) {
		p.t = t
		p.do(
			chromedp.Evaluate[chromedp.Void](`document.querySelector("#events .chunk .row").focus()`),
			chromedp.KeyEvent(kb.ArrowDown),
			chromedp.KeyEvent(kb.ArrowDown),
		)
		if got := eval[string](p, `document.activeElement.dataset.i`); got != "2" {
			t.Fatalf("after two arrow-downs the focus is on row %q, want 2", got)
		}
		p.do(chromedp.KeyEvent(kb.Enter), chromedp.Poll[chromedp.Void](`document.getElementById("detail").open`))
		fields := eval[[]string](p, `[...document.querySelectorAll("#detail-fields dd")].map((d) => d.textContent)`)
		if !slices.Contains(fields, main[2].ID) || !slices.Contains(fields, main[2].Timestamp.Format(auditevents.TimestampLayout)) {
			t.Errorf("the detail panel of event 2 shows %q, want its ID %s and timestamp", fields, main[2].ID)
		}
		p.screenshot(dir, "detail.png")
		p.do(chromedp.KeyEvent(kb.Escape), chromedp.Poll[chromedp.Void](`!document.getElementById("detail").open`))
		if got := eval[string](p, `document.activeElement.dataset.i`); got != "2" {
			t.Errorf("after closing the panel the focus is on row %q, want 2 again", got)
		}
	})

	// Fields the page does not know, such as those a newer server adds to
	// events, show in the detail panel as text too. The test adds them to
	// the first event of the list endpoint's answers.
	t.Run("unknown fields", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const fetch0 = window.fetch;
			window.fetch = async (...args) => {
				const res = await fetch0(...args);
				if (!String(args[0]).includes("/audit-events?")) return res;
				const events = await res.json();
				if (events.length) Object.assign(events[0], {
					ip: '<img src=x onerror="window.pwned=1">',
					actor: { requestId: "req-1", userAgent: "curl/8.5 \u202eevil" },
				});
				return new Response(JSON.stringify(events), { status: res.status, headers: res.headers });
			};
		})()`))
		p.do(chromedp.SetValue(chromedp.ID("f-user"), "erin@example.com"), chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)))
		p.settled()
		p.do(chromedp.Click(chromedp.CSS("#events .chunk .row")), chromedp.Poll[chromedp.Void](`document.getElementById("detail").open`))
		fields := eval[[][2]string](p, `[...document.querySelectorAll("#detail-fields dt")].map((dt) => [dt.textContent, dt.nextElementSibling.textContent])`)
		want := map[string]string{
			"ip":    `<img src=x onerror="window.pwned=1">`,
			"actor": "{\n  \"requestId\": \"req-1\",\n  \"userAgent\": \"curl/8.5 U+202Eevil\"\n}",
		}
		for _, f := range fields {
			if w, ok := want[f[0]]; ok {
				if f[1] != w {
					t.Errorf("the unknown field %s shows %q, want %q", f[0], f[1], w)
				}
				delete(want, f[0])
			}
		}
		if len(want) > 0 {
			t.Errorf("the detail panel lacks the unknown fields %v; it shows %q", want, fields)
		}
		if got := eval[string](p, `String(window.pwned)`); got != "undefined" {
			t.Errorf("window.pwned is %s: an unknown field ran as script", got)
		}
		p.do(chromedp.KeyEvent(kb.Escape), chromedp.Poll[chromedp.Void](`!document.getElementById("detail").open`))
		p.do(chromedp.Navigate(srv.viewer)) // the page's own fetch again
		p.settled()
	})

	// Each filter, set in its field, narrows the events to what the API
	// answers the same parameters with, and is kept in the page's URL.
	t.Run("filters", func(t *testing.T) {
		from := time.Date(2026, 1, 20, 9, 30, 0, 0, paris)
		to := time.Date(2026, 1, 22, 18, 0, 0, 0, paris)
		tests := []struct {
			name   string
			fields map[string]string // field id -> value
			want   url.Values        // the page's query
		}{
			{"user", map[string]string{"f-user": "carol@example.com"}, url.Values{"user": {"carol@example.com"}}},
			{"action", map[string]string{"f-action": "Deleted"}, url.Values{"action": {"Deleted"}}},
			{"kind", map[string]string{"f-resource-kind": "Rollout"}, url.Values{"resource-kind": {"Rollout"}}},
			{"resource", map[string]string{"f-resource-name": "source-2"}, url.Values{"resource-name": {"source-2"}}},
			{"configuration", map[string]string{"f-configuration-name": "payments"}, url.Values{"configuration-name": {"payments"}}},
			{"configuration and version", map[string]string{"f-configuration-name": "payments:3"}, url.Values{"configuration-name": {"payments:3"}}},
			{"date range", map[string]string{"f-min-date": "2026-01-20T09:30", "f-max-date": "2026-01-22T18:00"},
				url.Values{"min-date": {from.UTC().Format(time.RFC3339)}, "max-date": {to.Add(59 * time.Second).UTC().Format(time.RFC3339)}}},
			{"IP address", map[string]string{"f-ip-address": "10.2.0.0/16"}, url.Values{"ip-address": {"10.2.0.0/16"}}},
			{"request ID", map[string]string{"f-request-id": "req-7"}, url.Values{"request-id": {"req-7"}}},
			{"hostile user", map[string]string{"f-user": hostile[1]}, url.Values{"user": {hostile[1]}}},
			{"nothing matches", map[string]string{"f-user": "nobody@example.com"}, url.Values{"user": {"nobody@example.com"}}},
			{"together", map[string]string{"f-user": "alice@example.com", "f-resource-kind": "Configuration", "f-min-date": "2026-01-20T09:30"},
				url.Values{"user": {"alice@example.com"}, "resource-kind": {"Configuration"}, "min-date": {from.UTC().Format(time.RFC3339)}}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				p.t = t
				p.do(chromedp.Click(chromedp.ID("clear")))
				p.settled()
				for id, v := range tt.fields {
					p.do(chromedp.SetValue(chromedp.ID(id), v))
				}
				p.do(chromedp.Click(chromedp.CSS(`#filters button[type=submit]`)))
				state := p.settled()
				if got := p.query(); !equalValues(got, tt.want) {
					t.Fatalf("the page's URL holds %v, want %v", got, tt.want)
				}
				want := srv.ids(t, tt.want, mainKey)
				if len(want) == 0 {
					if state != "empty" || !strings.Contains(p.status(), "No events match") {
						t.Errorf("no event matches, and the page is %q saying %q", state, p.status())
					}
					return
				}
				if got := p.count(); got != len(want) {
					t.Errorf("the page read %d events, the API answers %d", got, len(want))
				}
				if rows := p.rows(); len(rows) > len(want) || !slices.Equal(rows, want[:len(rows)]) {
					t.Errorf("the rows are not the API's events in order")
				}
			})
		}
		// A bookmarked view opens as it was left.
		p.t = t
		p.do(chromedp.Navigate(srv.viewer + "?user=bob%40example.com&resource-kind=Configuration"))
		p.settled()
		if got := eval[[]string](p, `[document.getElementById("f-user").value, document.getElementById("f-resource-kind").value]`); !slices.Equal(got, []string{"bob@example.com", "Configuration"}) {
			t.Errorf("a bookmarked view shows the fields %q", got)
		}
		want := srv.ids(t, url.Values{"user": {"bob@example.com"}, "resource-kind": {"Configuration"}}, mainKey)
		if got := p.count(); got != len(want) {
			t.Errorf("a bookmarked view read %d events, the API answers %d", got, len(want))
		}
	})

	t.Run("export CSV", func(t *testing.T) {
		p.t = t
		downloads := t.TempDir()
		if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: downloads, EventsEnabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}
		progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
		p.do(chromedp.Navigate(srv.viewer + "?user=alice%40example.com&min-date=2026-01-10T00%3A00%3A00Z"))
		p.settled()
		p.do(chromedp.Click(chromedp.ID("export")))
		dctx, dcancel := context.WithTimeout(ctx, time.Minute)
		defer dcancel()
		var file string
		for ev, err := range progress {
			if err != nil || dctx.Err() != nil {
				t.Fatalf("waiting for the download: %v %v", err, dctx.Err())
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				file = filepath.Join(downloads, ev.GUID)
				break
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatal("the download was canceled")
			}
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		want := srv.get(t, "/v1/audit-events/download", p.query(), mainKey)
		if !bytes.Equal(got, want) {
			t.Errorf("the exported file (%d bytes) differs from the download endpoint's answer (%d bytes)", len(got), len(want))
		}
		p.sameOrigin()
		if n := bytes.Count(got, []byte("\n")); n < 50 {
			t.Errorf("the exported file has %d lines; the filter should match hundreds", n)
		}
	})

	t.Run("histogram bar", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Navigate(srv.viewer))
		p.settled()
		bars := eval[[]map[string]string](p, `[...document.querySelectorAll("#histogram-svg g.b")].map((g) => ({...g.dataset}))`)
		if len(bars) < 28 || len(bars) > 32 {
			t.Fatalf("the histogram of 30 days has %d bars, want one a day", len(bars))
		}
		sum, top, most := 0, 0, -1
		for i, b := range bars {
			n, err := strconv.Atoi(b["count"])
			if err != nil {
				t.Fatalf("bar %d counts %q", i, b["count"])
			}
			sum += n
			if n > most {
				top, most = i, n
			}
		}
		if sum != mainEvents {
			t.Errorf("the bars count %d events, the account holds %d", sum, mainEvents)
		}
		bar := bars[top]
		p.do(chromedp.Click(chromedp.CSS(fmt.Sprintf("#histogram-svg g.b:nth-of-type(%d)", top+1))))
		p.settled()
		q := p.query()
		if q.Get("min-date") != bar["min"] || q.Get("max-date") != bar["max"] {
			t.Fatalf("after the click the URL holds %v, want the bar's range %s to %s", q, bar["min"], bar["max"])
		}
		start, _ := time.Parse(time.RFC3339, bar["min"])
		if l := start.In(paris); l.Hour() != 0 || l.Minute() != 0 {
			t.Errorf("the bar starts at %s, not at a local midnight", l)
		}
		want := srv.ids(t, q, mainKey)
		if got := p.count(); fmt.Sprint(got) != bar["count"] || got != len(want) {
			t.Errorf("the bar counts %s events; the page read %d and the API answers %d", bar["count"], got, len(want))
		}
		if n := eval[int](p, `document.querySelectorAll("#histogram-svg g.b").length`); n != 24 {
			t.Errorf("the histogram of one day has %d bars, want 24, one an hour", n)
		}
	})

	t.Run("errors", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Navigate(srv.viewer + "?min-date=yesterday"))
		if state := p.settled(); state != "error" || !strings.Contains(p.status(), "min-date") {
			t.Errorf("a bad date leaves the page %q saying %q, want the server's message about min-date", state, p.status())
		}
		p.do(chromedp.Navigate(srv.viewer + "?colour=red"))
		if state := p.settled(); state != "error" || !strings.Contains(p.status(), "colour") {
			t.Errorf("an unknown parameter leaves the page %q saying %q, want the server's message", state, p.status())
		}
	})

	t.Run("scroll to the end", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Navigate(srv.viewer))
		p.settled()
		// Scroll a screen each frame until the last row is there, then
		// through the whole table again, recording each frame's length.
		type frames struct {
			Rows    int
			Frames  int
			Long    int // frames over 50 ms
			Max     float64
			Median  float64
			Elapsed float64
		}
		run := eval[[]frames](p, `(async () => {
			const rows = () => document.querySelectorAll("#events .chunk .row").length;
			const frame = () => new Promise((r) => requestAnimationFrame(r));
			async function pass(done) {
				const d = [];
				let last = await frame();
				const t0 = last;
				for (let i = 0; i < 3000 && !done(); i++) {
					scrollBy(0, innerHeight);
					const t = await frame();
					d.push(t - last);
					last = t;
				}
				const s = [...d].sort((a, b) => a - b);
				return { Rows: rows(), Frames: d.length, Long: d.filter((x) => x > 50).length,
					Max: s[s.length - 1] || 0, Median: s[s.length >> 1] || 0, Elapsed: last - t0 };
			}
			// The machine's own noise: frames with nothing to do.
			const idle = [];
			let prev = await frame();
			for (let i = 0; i < 120; i++) { const t = await frame(); idle.push(t - prev); prev = t; }
			const s = [...idle].sort((a, b) => a - b);
			const baseline = { Rows: rows(), Frames: idle.length, Long: idle.filter((x) => x > 50).length,
				Max: s[s.length - 1], Median: s[s.length >> 1], Elapsed: idle.reduce((a, b) => a + b, 0) };
			scrollTo(0, 0);
			const first = await pass(() => rows() >= `+fmt.Sprint(mainEvents)+` && scrollY + innerHeight >= document.documentElement.scrollHeight - 2);
			scrollTo(0, 0);
			const second = await pass(() => scrollY + innerHeight >= document.documentElement.scrollHeight - 2);
			return [first, second, baseline];
		})()`)
		if got := p.rows(); !slices.Equal(got, mainIDs) {
			t.Fatalf("after scrolling to the end the table holds %d rows; want the account's %d events, in order, once each", len(got), len(mainIDs))
		}
		for i, name := range []string{"scroll, rendering rows", "scroll, all rows rendered", "idle frames, no scrolling"} {
			f := run[i]
			measures[name] = fmt.Sprintf("%d frames over %.0f ms, median %.1f ms, longest %.1f ms, %d over 50 ms",
				f.Frames, f.Elapsed, f.Median, f.Max, f.Long)
		}
		p.sameOrigin()
		measures["DOM nodes with 5,000 rows"] = fmt.Sprint(eval[int](p, `document.getElementsByTagName("*").length`))
		// What showing every row at once would cost: style and layout of a
		// copy of the 5,000 rows, with the off-screen pages skipped as the
		// page does it (content-visibility: auto) and without.
		for _, visible := range []bool{false, true} {
			ms := eval[float64](p, `(() => {
				const copy = document.getElementById("events").cloneNode(true);
				copy.removeAttribute("id");
				if (`+strconv.FormatBool(visible)+`) for (const c of copy.querySelectorAll(".chunk")) c.style.contentVisibility = "visible";
				const t0 = performance.now();
				document.querySelector("main").append(copy);
				document.documentElement.getBoundingClientRect();
				void document.documentElement.scrollHeight;
				const t1 = performance.now();
				copy.remove();
				return t1 - t0;
			})()`)
			name := "layout of 5,000 rows, pages skipped"
			if visible {
				name = "layout of 5,000 rows, all laid out"
			}
			measures[name] = fmt.Sprintf("%.1f ms", ms)
		}
	})

	t.Run("second account", func(t *testing.T) {
		p.t = t
		p.do(chromedp.Click(chromedp.ID("signout")))
		if got := eval[string](p, `String(sessionStorage.getItem("auditevents.key"))`); got != "null" {
			t.Errorf("after signing out sessionStorage still holds %q", got)
		}
		p.signIn(otherKey)
		p.settled()
		want := srv.ids(t, nil, otherKey)
		if got := p.count(); got != otherEvents || len(want) != otherEvents {
			t.Errorf("the second account shows %d events; it holds %d and the API answers %d", got, otherEvents, len(want))
		}
		rows := p.rows()
		if len(rows) > len(want) || !slices.Equal(rows, want[:len(rows)]) {
			t.Errorf("the second account's rows are not its own events")
		}
		for _, id := range rows {
			if slices.Contains(mainIDs, id) {
				t.Fatalf("the second account sees event %s of the first", id)
			}
		}
	})

	for _, m := range consoleErrors() {
		t.Errorf("console: %s", m)
	}

	var report strings.Builder
	fmt.Fprintf(&report, "viewer measurements (Chromium, %d events)\n", mainEvents)
	keys := make([]string, 0, len(measures))
	for k := range measures {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&report, "%-38s %s\n", k, measures[k])
	}
	t.Log("\n" + report.String())
	if err := os.WriteFile(filepath.Join(dir, "measurements.txt"), []byte(report.String()), 0o644); err != nil {
		t.Error(err)
	}
}

func equalValues(a, b url.Values) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func ptr[T any](v T) *T { return &v }
