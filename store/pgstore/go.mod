module github.com/auditevents/auditevents/store/pgstore

go 1.26.0

require (
	github.com/auditevents/auditevents v0.0.0-20261201120013-09ddbeaa3abc
	github.com/jackc/pgx/v5 v5.12.0
	golang.org/x/mod v0.43.0
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	github.com/oklog/ulid/v2 v2.1.2 // indirect
	golang.org/x/sync v0.22.0 // indirect
	golang.org/x/text v0.41.0 // indirect
)
