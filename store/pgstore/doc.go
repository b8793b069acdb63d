// Package pgstore keeps audit events in PostgreSQL. It is the
// [auditevents.Store] for hosts that run several replicas: they all append to
// and query one table, and see the same events in the same order.
package pgstore
