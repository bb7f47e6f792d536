// Package openapicheck validates HTTP answers against an OpenAPI document:
// the route and the status must be described, and a JSON body must match
// its schema. The web tier's tests and the end-to-end tests run every
// answer of the web tier through it, so an answer that drifts from
// /api/openapi.json fails the test that saw it. Only tests import it (it
// brings kin-openapi).
package openapicheck

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Checker holds a loaded, valid OpenAPI document.
type Checker struct {
	doc    *openapi3.T
	router routers.Router
}

// Load parses and validates document. Routes are matched on the path alone:
// the document's servers (localhost:8080) are not where tests' web tiers
// listen.
func Load(document []byte) (*Checker, error) {
	doc, err := openapi3.NewLoader().LoadFromData(document)
	if err != nil {
		return nil, fmt.Errorf("the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	d := *doc
	d.Servers = nil
	router, err := legacy.NewRouter(&d)
	if err != nil {
		return nil, fmt.Errorf("the OpenAPI document: %w", err)
	}
	return &Checker{doc: doc, router: router}, nil
}

// Document is the document as loaded (its servers kept).
func (c *Checker) Document() *openapi3.T { return c.doc }

// Check fails the test (without stopping it) if the document does not allow
// the answer.
func (c *Checker) Check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if err := c.Problem(req, status, header, body); err != nil {
		t.Errorf("%v\n%s", err, body[:min(len(body), 400)])
	}
}

// Problem says what in an answer the document does not allow: a route or a
// status it does not describe, a JSON body off its schema. A GET answered
// 404 on a path the document lacks is the not-found page, allowed. Bodies
// other than JSON (HTML, PDF, event streams) are not validated: status and
// headers only.
func (c *Checker) Problem(req *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		if req.Method == http.MethodGet && status == http.StatusNotFound {
			return nil
		}
		return fmt.Errorf("%s %s is not in the OpenAPI document: %w", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		opts.ExcludeResponseBody = true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts},
		Status:                 status, Header: header, Body: io.NopCloser(bytes.NewReader(body)), Options: opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s answered %d, which the OpenAPI document does not allow: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}
