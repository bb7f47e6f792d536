package adapters

import (
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// idleConnections keeps the Mailer's SMTP connections between sends, for
// the next send to reuse instead of connecting (TCP, EHLO, STARTTLS, AUTH)
// again. It holds at most max of them, the most recently used handed out
// first; one idle for idleTimeout is closed, and so is every one at close.
// It never makes a sender wait: a sender finding none idle connects, so at
// most one connection is open per sender at once, as without reuse.
type idleConnections struct {
	max         int
	idleTimeout time.Duration
	quit        func(*smtp.Client) // ends a connection (QUIT, then close)

	mu       sync.Mutex
	idle     []*idleConnection // the most recently used last
	closed   bool
	quitting sync.WaitGroup // connections being ended after their idle time
}

type idleConnection struct {
	client *smtp.Client
	timer  *time.Timer // ends it after idleTimeout
}

func newIdleConnections(maxIdle int, idleTimeout time.Duration, quit func(*smtp.Client)) *idleConnections {
	return &idleConnections{max: maxIdle, idleTimeout: idleTimeout, quit: quit}
}

// take returns the connection put back last, or nil if none is idle.
func (p *idleConnections) take() *smtp.Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	// If the timer fires anyway, expire finds c gone and leaves it alone.
	c.timer.Stop()
	return c.client
}

// put keeps client for the next send, or ends it when max are idle already
// or the pool is closed.
func (p *idleConnections) put(client *smtp.Client) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.max {
		p.mu.Unlock()
		p.quit(client)
		return
	}
	c := &idleConnection{client: client}
	c.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(c) })
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// expire ends c once it has been idle for idleTimeout, unless a sender took
// it meanwhile.
func (p *idleConnections) expire(c *idleConnection) {
	p.mu.Lock()
	i := p.index(c)
	if i < 0 {
		p.mu.Unlock()
		return
	}
	p.idle = append(p.idle[:i], p.idle[i+1:]...)
	p.quitting.Add(1)
	p.mu.Unlock()
	defer p.quitting.Done()
	p.quit(c.client)
}

func (p *idleConnections) index(c *idleConnection) int {
	for i, idle := range p.idle {
		if idle == c {
			return i
		}
	}
	return -1
}

// close ends every idle connection, each in parallel, and waits for those
// already being ended; a connection put back later is ended at once.
func (p *idleConnections) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range idle {
		c.timer.Stop()
		wg.Go(func() { p.quit(c.client) })
	}
	wg.Wait()
	p.quitting.Wait()
}
