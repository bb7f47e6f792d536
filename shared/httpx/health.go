package httpx

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Check is one dependency readiness depends on.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// HandleHealth registers GET /healthz (the process is alive) and GET /readyz
// (every check passes: the service can do its work) on mux.
func HandleHealth(mux Router, checks ...Check) {
	HandleHealthOf(mux, func() []Check { return checks })
}

// HandleHealthOf is HandleHealth with the checks read at every request (a
// service adds its checks as it builds its parts).
func HandleHealthOf(mux Router, current func() []Check) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		checks := current()
		results := make(map[string]string, len(checks))
		var mu sync.Mutex
		var wg sync.WaitGroup
		ready := true
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				status := "ok"
				if err := c.Check(ctx); err != nil {
					status = err.Error()
				}
				mu.Lock()
				defer mu.Unlock()
				results[c.Name] = status
				if status != "ok" {
					ready = false
				}
			}()
		}
		wg.Wait()
		code, status := http.StatusOK, "ready"
		if !ready {
			code, status = http.StatusServiceUnavailable, "not ready"
		}
		WriteJSON(w, code, map[string]any{"status": status, "checks": results})
	})
}
