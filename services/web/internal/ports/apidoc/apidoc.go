// Package apidoc serves the web tier's contract: the OpenAPI 3.1 document
// of its HTTP API (GET /api/openapi.json) and a page that renders it in a
// browser (GET /api/docs), with a script of this package's own: no CDN, no
// inline script, so the site's Content-Security-Policy holds.
//
// openapi.json is written by hand and checked against the code: the web
// tier's tests fail when a route it serves is missing from the document, or
// an answer does not validate against it.
package apidoc

import (
	"bytes"
	_ "embed"
	"net/http"
	"time"

	"github.com/staybook/staybook/shared/httpx"
)

// Document is the OpenAPI document.
//
//go:embed openapi.json
var Document []byte

//go:embed docs.html
var page []byte

//go:embed viewer.js
var viewer []byte

// Routes the package serves.
const (
	DocumentPath = "/api/openapi.json"
	PagePath     = "/api/docs"
	ViewerPath   = "/api/docs/viewer.js"
)

// Register adds the document, the page and its script to mux.
func Register(mux httpx.Router) {
	mux.Handle("GET "+DocumentPath, serve("application/json", Document))
	mux.Handle("GET "+PagePath, serve("text/html; charset=utf-8", page))
	mux.Handle("GET "+ViewerPath, serve("text/javascript; charset=utf-8", viewer))
}

// started is the Last-Modified of the embedded files: they change only
// with the binary.
var started = time.Now()

func serve(contentType string, body []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", started, bytes.NewReader(body))
	})
}
