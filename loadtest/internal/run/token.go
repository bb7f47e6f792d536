package run

import "net/http"

// LoadTestTokenHeader carries LOADTEST_TOKEN: the web tier exempts the
// requests that carry it from its per-client rate limit, so that a load
// test through the load balancer measures the system, not the limiter
// (SECURITY.md, "Rate limits").
const LoadTestTokenHeader = "X-Loadtest-Token"

// tokenTransport adds the load generator's token to every request.
type tokenTransport struct {
	base  http.RoundTripper
	token string
}

func (t tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set(LoadTestTokenHeader, t.token)
	return t.base.RoundTrip(req)
}

// withToken wraps base to send token, if there is one.
func withToken(base http.RoundTripper, token string) http.RoundTripper {
	if token == "" {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return tokenTransport{base: base, token: token}
}
