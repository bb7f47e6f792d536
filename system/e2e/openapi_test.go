package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// openAPIDocument is the web tier's OpenAPI document, as it serves it at
// /api/openapi.json.
const openAPIDocument = "../../services/web/internal/ports/apidoc/openapi.json"

var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	raw, err := os.ReadFile(filepath.FromSlash(openAPIDocument))
	if err != nil {
		return nil, err
	}
	doc, err := openapi3.NewLoader().LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = nil // the tests' web tier listens on ports of its own
	return legacy.NewRouter(doc)
})

// checkOpenAPI validates an answer of the web tier against its OpenAPI
// document: the route and the status must be described, and a JSON body
// must match its schema. do() calls it for every answer, so an end-to-end
// test fails where the web tier's answers drift from the document. Answers
// of other programs (Mailpit's API) are told apart by the traceparent
// header every traced Staybook answer carries; the other services'
// internal APIs (/internal/...) are not in the document.
func checkOpenAPI(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if header.Get("traceparent") == "" || strings.HasPrefix(req.URL.Path, "/internal/") {
		return
	}
	if err := openAPIProblem(req, status, header, body); err != nil {
		t.Errorf("%v\n%s", err, body[:min(len(body), 400)])
	}
}

func openAPIProblem(req *http.Request, status int, header http.Header, body []byte) error {
	router, err := openAPIRouter()
	if err != nil {
		return fmt.Errorf("the OpenAPI document: %w", err)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		if req.Method == http.MethodGet && status == http.StatusNotFound {
			return nil // the not-found page of an unknown path
		}
		return fmt.Errorf("%s %s is not in the OpenAPI document: %w", req.Method, req.URL.Path, err)
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	if mt, _, _ := mime.ParseMediaType(header.Get("Content-Type")); mt != "application/json" {
		opts.ExcludeResponseBody = true // HTML, PDF, event streams: status and headers only
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

func TestOpenAPIProblem_CatchesAnAnswerOffTheDocument(t *testing.T) {
	t.Parallel()
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/api/hotels", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	if err := openAPIProblem(req, http.StatusOK, h, []byte(`{"hotels":[]}`)); err != nil {
		t.Fatalf("a documented answer: %v", err)
	}
	if err := openAPIProblem(req, http.StatusOK, h, []byte(`{"hotel":[]}`)); err == nil {
		t.Error("an answer without its required field passed")
	}
}
