package openapicheck_test

import (
	"net/http"
	"testing"

	"github.com/staybook/staybook/shared/testkit/openapicheck"
)

const document = `{
  "openapi": "3.1.0",
  "info": {"title": "t", "version": "1"},
  "servers": [{"url": "http://localhost:8080"}],
  "paths": {
    "/api/things/{id}": {
      "get": {
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
        "responses": {
          "200": {"description": "a thing", "content": {"application/json": {"schema": {
            "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}}}}
        }
      }
    }
  }
}`

func TestProblem_AllowsWhatTheDocumentDescribesAndNothingElse(t *testing.T) {
	checker, err := openapicheck.Load([]byte(document))
	if err != nil {
		t.Fatal(err)
	}
	get, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:41000/api/things/a", nil)
	put, _ := http.NewRequest(http.MethodPut, "http://127.0.0.1:41000/api/things/a", nil)
	unknown, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1:41000/nowhere", nil)
	jsonType := http.Header{"Content-Type": {"application/json"}}
	html := http.Header{"Content-Type": {"text/html; charset=utf-8"}}
	for name, c := range map[string]struct {
		req    *http.Request
		status int
		header http.Header
		body   string
		fails  bool
	}{
		"as documented, on another server's port": {get, 200, jsonType, `{"id":"a"}`, false},
		"a required field missing":                {get, 200, jsonType, `{}`, true},
		"a wrong type":                            {get, 200, jsonType, `{"id":1}`, true},
		"an undocumented status":                  {get, 418, jsonType, `{"id":"a"}`, true},
		"an undocumented method":                  {put, 200, jsonType, `{"id":"a"}`, true},
		"the not-found page of an unknown path":   {unknown, 404, html, `<p>not found</p>`, false},
		"an unknown path answered 200":            {unknown, 200, html, `<p>hello</p>`, true},
	} {
		if err := checker.Problem(c.req, c.status, c.header, []byte(c.body)); (err != nil) != c.fails {
			t.Errorf("%s: problem %v, want one: %v", name, err, c.fails)
		}
	}
}

func TestLoad_RefusesAnInvalidDocument(t *testing.T) {
	if _, err := openapicheck.Load([]byte(`{"openapi": "3.1.0", "paths": {"/x": {"get": {"responses": {"200": {}}}}}}`)); err == nil {
		t.Error("a document without info and with a response lacking its description loaded")
	}
}
