// Package openapitest validates the responses of package httpapi against
// the API's OpenAPI document, kept in testdata/openapi.json (a copy of the
// published shared/spec/openapi.json, which a test compares it with when it
// is checked out beside the repository). It is a module of its own so that the library's go.mod does
// not require the validator. It holds tests only.
package openapitest
