package testkit

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy in front of a server, so a test can cut the
// connections to it (as a broker or database restart would) and let them
// back in, or stall them (a server that stops answering while its
// connections stay up), without touching the real server others use.
// NewProxy gives a test one; StartProxy one outside a test (the chaos run
// puts one between the services and its RabbitMQ node).
type Proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	flowing *sync.Cond // signalled when stalled turns false or down true
	down    bool
	stalled bool
	conns   map[net.Conn]struct{}
	wg      sync.WaitGroup
}

// NewProxy listens on a free 127.0.0.1 port and forwards to target until the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := StartProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// ProxyURL puts a proxy in front of the host of rawURL (an AMQP or
// PostgreSQL URL) and returns the URL that goes through it.
func ProxyURL(t testing.TB, rawURL string) (string, *Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("proxy for %s: %v", rawURL, err)
	}
	p := NewProxy(t, u.Host)
	u.Host = p.Addr()
	return u.String(), p
}

// StartProxy listens on a free 127.0.0.1 port and forwards to target until
// Close.
func StartProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.flowing = sync.NewCond(&p.mu)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitFlowing()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *Proxy) waitFlowing() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.stalled && !p.down {
		p.flowing.Wait()
	}
}

// Stall holds every byte in both directions, the connections kept open,
// until Resume. Keep it shorter than the AMQP heartbeat timeout (about 20 s).
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = true
}

// Resume lets the bytes held by Stall through.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stalled = false
	p.flowing.Broadcast()
}

// Cut closes every connection and refuses new ones until Restore.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	p.flowing.Broadcast()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Restore accepts connections again.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// Flap cuts the connections n times, each time for down, every interval:
// a network that comes and goes, or a broker behind a flapping load balancer.
func (p *Proxy) Flap(ctx context.Context, n int, down, interval time.Duration) error {
	for i := range n {
		p.Cut()
		err := wait(ctx, down)
		p.Restore()
		if err != nil {
			return err
		}
		if i < n-1 {
			if err := wait(ctx, interval); err != nil {
				return err
			}
		}
	}
	return nil
}

// wait returns after d, or with ctx's error if ctx ends first.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops the proxy, closes its connections and waits for its
// goroutines to end.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.Cut()
	p.wg.Wait()
	return err
}
