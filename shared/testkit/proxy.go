package testkit

import (
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a server, so a test can cut the
// connections to it (as a broker or database restart would) and let them
// back in, or stall them (a server that stops answering while its
// connections stay up), without touching the real server others use.
type Proxy struct {
	ln      net.Listener
	target  string
	mu      sync.Mutex
	flowing *sync.Cond // signalled when stalled turns false or down true
	down    bool
	stalled bool
	conns   map[net.Conn]struct{}
}

// NewProxy listens on a free 127.0.0.1 port and forwards to target.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	p.flowing = sync.NewCond(&p.mu)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
	})
	return p
}

// Addr is the proxy's address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) accept() {
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
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
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
