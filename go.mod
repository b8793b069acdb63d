module github.com/auditevents/auditevents

go 1.26.0

require (
	github.com/oklog/ulid/v2 v2.1.2
	go.etcd.io/bbolt v1.5.0
	golang.org/x/mod v0.43.0
)

require golang.org/x/sys v0.45.0 // indirect
