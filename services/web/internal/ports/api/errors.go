package api

import (
	"net/http"

	"github.com/staybook/staybook/shared/httpx"

	"github.com/staybook/staybook/services/web/internal/app"
)

func writeError(w http.ResponseWriter, status int, code, message string) {
	httpx.WriteError(w, status, code, message)
}

func notFound(w http.ResponseWriter, what string) {
	writeError(w, http.StatusNotFound, app.CodeNotFound, what+" not found")
}
