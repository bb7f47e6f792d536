package ratelimit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Headers a trusted proxy may name the client in.
const (
	// HeaderForwardedFor is appended to by each proxy (nginx's
	// $proxy_add_x_forwarded_for, ingress-nginx): what the client sent
	// comes first, so only the hops added by trusted proxies count.
	HeaderForwardedFor = "X-Forwarded-For"
	// HeaderRealIP is set, not appended, by the proxy (nginx:
	// proxy_set_header X-Real-IP $remote_addr), so it holds one address the
	// client cannot influence.
	HeaderRealIP = "X-Real-IP"
)

// ClientAddresses tells which address a request comes from. The peer is
// the client unless the peer is a trusted proxy; then the proxy's header
// names the client:
//
//   - X-Forwarded-For: the rightmost hop that is not itself a trusted
//     proxy. Every hop to its left was written by the client or by proxies
//     nobody vouches for, so a client that sends its own X-Forwarded-For
//     changes nothing.
//   - X-Real-IP (or any header that holds one address the proxy sets): its
//     value.
//
// The zero value trusts nobody: the peer is the client.
type ClientAddresses struct {
	TrustedProxies []netip.Prefix
	// Header is HeaderForwardedFor (the default when empty) or a header
	// that the trusted proxies set to one address, such as HeaderRealIP.
	Header string
}

// Of returns the client address of r; false if not even the peer address
// parses (a request not from a network connection).
func (c ClientAddresses) Of(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !contains(c.TrustedProxies, peer) {
		return peer, true
	}
	header := c.Header
	if header == "" {
		header = HeaderForwardedFor
	}
	if !strings.EqualFold(header, HeaderForwardedFor) {
		// A header the proxy sets: one address, or the peer if it is
		// missing or not an address (the proxy is misconfigured).
		if a, ok := parseHost(strings.TrimSpace(r.Header.Get(header))); ok {
			return a, true
		}
		return peer, true
	}
	// Walk from the right (the hop our trusted peer added) to the left,
	// past every trusted proxy. Several header lines are one list, in order.
	client := peer
	values := r.Header.Values(HeaderForwardedFor)
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, ok := parseHost(strings.TrimSpace(hops[j]))
			if !ok {
				// Not an address: no trusted proxy wrote it. The nearest
				// address anyone vouches for is the last proxy.
				return client, true
			}
			client = a
			if !contains(c.TrustedProxies, a) {
				return a, true
			}
		}
	}
	return client, true // every hop trusted: the leftmost is the client
}

// parseHost parses "1.2.3.4", "1.2.3.4:80", "::1", "[::1]:80".
func parseHost(s string) (netip.Addr, bool) {
	if s == "" {
		return netip.Addr{}, false
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func contains(nets []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
