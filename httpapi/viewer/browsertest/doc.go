// Package browsertest tests the audit log viewer of package
// [github.com/auditevents/auditevents/httpapi/viewer] in a real browser:
// headless Chromium, driven with chromedp, against the example server
// (examples/server) built and run as a process of its own.
//
// The test writes a store with two accounts, one of 5,000 events among which
// are events whose every field is hostile markup, script URLs or text
// direction overrides, and checks what a person relies on: signing in,
// each filter, the URL that keeps them, scrolling to the last event, the
// CSV export against the download endpoint, the histogram, the detail
// panel, the keyboard, the error states, that hostile fields show as text,
// and that nothing is written to the console. A second test mounts the page
// in a host of its own whose users sign in with a session cookie.
//
// It needs Chromium: /usr/bin/chromium (Debian's chromium package, which
// .ci/setup.d/chromium.sh installs) or the program named by $CHROMIUM.
// Without one it skips, unless $CI is set, when it fails.
//
// Run it from this folder, with the repository's go.work:
//
//	go test ./...
//	go test -v -run TestViewer ./...                     # with the measurements
//	go test -run TestViewer -args -update-screenshot     # rewrite ../screenshot.png
//
// Screenshots (light, dark, phone width, the detail panel) and the
// measurements are written to the folder artifacts/ beside this file, or to
// $VIEWER_ARTIFACTS when it is set; a reviewer opens them there.
package browsertest
