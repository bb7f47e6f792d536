package main

import (
	"bytes"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/staybook/staybook/shared/testkit"
	"github.com/staybook/staybook/shared/testkit/openapicheck"

	"github.com/staybook/staybook/services/web/internal/ports/apidoc"
)

// notDocumented are patterns the web tier serves that are not operations
// of their own.
var notDocumented = map[string]string{
	"GET /": "the not-found page for every path no other route takes",
}

// openAPI is the web tier's OpenAPI document, loaded once.
var openAPI = sync.OnceValues(func() (*openapicheck.Checker, error) {
	return openapicheck.Load(apidoc.Document)
})

// operationOf is the OpenAPI path and method of a ServeMux pattern.
func operationOf(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.ReplaceAll(path, "{$}", "")
	path = strings.ReplaceAll(path, "...}", "}")
	return method, path
}

func TestOpenAPI_DescribesEveryRouteTheWebTierServesAndNoOther(t *testing.T) {
	t.Parallel()
	checker, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	doc := checker.Document()
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	served := map[string]bool{}
	for _, pattern := range w.svc.Mux().Patterns() {
		if _, ok := notDocumented[pattern]; ok {
			continue
		}
		method, path := operationOf(pattern)
		served[method+" "+path] = true
		item := doc.Paths.Find(path)
		if item == nil || item.GetOperation(method) == nil {
			t.Errorf("the web tier serves %s, which the OpenAPI document does not describe", pattern)
		}
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("the OpenAPI document describes %s %s, which the web tier does not serve", method, path)
			}
		}
	}
	if len(served) < 20 {
		t.Fatalf("only %d routes found: %v", len(served), w.svc.Mux().Patterns())
	}
}

func TestOpenAPI_ServedAndReadableWithoutAThirdPartyScript(t *testing.T) {
	t.Parallel()
	amqpURL := testkit.Vhost(t)
	fb := newFakeBooking(t)
	w := startWeb(t, testConfig(amqpURL, fb.URL(), "http://127.0.0.1:1"))

	doc := w.get(t, "/api/openapi.json")
	if doc.status != http.StatusOK || !bytes.Equal(doc.body, apidoc.Document) || !strings.HasPrefix(doc.header.Get("Content-Type"), "application/json") {
		t.Fatalf("/api/openapi.json: %d %s", doc.status, doc.header.Get("Content-Type"))
	}
	page := w.get(t, "/api/docs")
	if page.status != http.StatusOK {
		t.Fatalf("/api/docs: %d", page.status)
	}
	body := string(page.body)
	mustContain(t, page.body, `<script src="/api/docs/viewer.js" defer></script>`, `href="/api/openapi.json"`)
	// Every script is a file of the web tier's own: no inline code, no
	// other origin (the Content-Security-Policy would block either).
	if strings.Count(body, "<script") != 1 || strings.Contains(body, "://") && strings.Contains(body, "<script src=\"http") {
		t.Errorf("/api/docs loads scripts other than its own:\n%s", body)
	}
	if csp := page.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("/api/docs without the site's CSP: %q", csp)
	}
	script := w.get(t, "/api/docs/viewer.js")
	if script.status != http.StatusOK || !strings.HasPrefix(script.header.Get("Content-Type"), "text/javascript") ||
		!bytes.Contains(script.body, []byte(`fetch("/api/openapi.json"`)) || bytes.Contains(script.body, []byte("innerHTML")) {
		t.Errorf("/api/docs/viewer.js: %d %s", script.status, script.header.Get("Content-Type"))
	}
}

// checkAgainstOpenAPI validates an answer of the web tier against the
// OpenAPI document. Every request of these tests goes through it (do), so
// an answer that drifts from the document fails the test that saw it.
func checkAgainstOpenAPI(t *testing.T, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	checker, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	checker.Check(t, req, status, header, body)
}

func TestOpenAPIProblem_CatchesAnAnswerThatDrifted(t *testing.T) {
	t.Parallel()
	checker, err := openAPI()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://web/api/bookings", nil)
	h := http.Header{"Content-Type": {"application/json"}}
	good := `{"id":"4c9e2a1f-0b7d-4e3a-9f1c-2d8b6a5e7c30","status":"pending","status_url":"/api/bookings/4c9e2a1f-0b7d-4e3a-9f1c-2d8b6a5e7c30","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}`
	for name, c := range map[string]struct {
		status int
		body   string
		fails  bool
	}{
		"as documented":        {http.StatusAccepted, good, false},
		"a field missing":      {http.StatusAccepted, strings.Replace(good, `,"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`, "", 1), true},
		"a wrong type":         {http.StatusAccepted, strings.Replace(good, `"status":"pending"`, `"status":1`, 1), true},
		"an undocumented code": {http.StatusTeapot, `{"error":{"code":"x","message":"y"}}`, true},
	} {
		if err := checker.Problem(req, c.status, h, []byte(c.body)); (err != nil) != c.fails {
			t.Errorf("%s: problem %v, want one: %v", name, err, c.fails)
		}
	}
	unknown, _ := http.NewRequest(http.MethodPut, "http://web/api/hotels", nil)
	if err := checker.Problem(unknown, http.StatusOK, h, []byte(`{}`)); err == nil {
		t.Error("an operation the document lacks passed")
	}
}
