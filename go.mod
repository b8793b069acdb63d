module github.com/auditevents/auditevents

go 1.25.0

require github.com/oklog/ulid/v2 v2.1.2
