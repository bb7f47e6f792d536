package run

import (
	"context"
	"net/http"
)

// stoppableTransport sends every request of the load on ctx: vegeta makes
// its requests without a context, so a stopped run would otherwise wait
// for the slowest in flight, up to the client's whole timeout, before it
// drains and reports. Those cut short count as errors (no answer).
type stoppableTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t stoppableTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
