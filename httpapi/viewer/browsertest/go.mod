module github.com/auditevents/auditevents/httpapi/viewer/browsertest

go 1.26.0

require (
	github.com/auditevents/auditevents v0.0.0-20261201120013-09ddbeaa3abc
	github.com/chromedp/cdproto v0.159.0
	github.com/chromedp/chromedp v0.23.0
)

require (
	github.com/go-json-experiment/json v0.0.0-20260213210345-44df1a37e875 // indirect
	github.com/oklog/ulid/v2 v2.1.2 // indirect
	go.etcd.io/bbolt v1.5.0 // indirect
	golang.org/x/mod v0.43.0 // indirect
	golang.org/x/sys v0.45.0 // indirect
)
