package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/staybook/staybook/shared/testkit/openapicheck"
)

// openAPIDocument is the web tier's OpenAPI document, as it serves it at
// /api/openapi.json.
const openAPIDocument = "../../services/web/internal/ports/apidoc/openapi.json"

var openAPI = sync.OnceValues(func() (*openapicheck.Checker, error) {
	raw, err := os.ReadFile(filepath.FromSlash(openAPIDocument))
	if err != nil {
		return nil, err
	}
	return openapicheck.Load(raw)
})

// checkOpenAPI validates an answer of the web tier against its OpenAPI
// document (openapicheck). do() calls it for every answer, so an end-to-end
// test fails where the web tier's answers drift from the document. Answers
// of other programs (Mailpit's API) are told apart by the traceparent
// header every traced Staybook answer carries; the other services'
// internal APIs (/internal/...) are not in the document.
func checkOpenAPI(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	if header.Get("traceparent") == "" || strings.HasPrefix(req.URL.Path, "/internal/") {
		return
	}
	checker, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	checker.Check(t, req, status, header, body)
}

func TestOpenAPI_TheServedDocumentCatchesAnAnswerOffIt(t *testing.T) {
	t.Parallel()
	checker, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:1/api/hotels", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	if err := checker.Problem(req, http.StatusOK, h, []byte(`{"hotels":[]}`)); err != nil {
		t.Fatalf("a documented answer: %v", err)
	}
	if err := checker.Problem(req, http.StatusOK, h, []byte(`{"hotel":[]}`)); err == nil {
		t.Error("an answer without its required field passed")
	}
}
