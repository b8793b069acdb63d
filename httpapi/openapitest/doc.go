// Package openapitest validates the responses of package httpapi against
// the API's OpenAPI document, shared/spec/openapi.json beside the
// repository. It is a module of its own so that the library's go.mod does
// not require the validator. It holds tests only.
package openapitest
