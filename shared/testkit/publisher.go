package testkit

import (
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"
)

// CountingPublisher is a message.Publisher that accepts every message and
// counts them: for tests of code that publishes, without a broker.
type CountingPublisher struct {
	n atomic.Int64
}

// Publish counts msgs.
func (p *CountingPublisher) Publish(_ string, msgs ...*message.Message) error {
	p.n.Add(int64(len(msgs)))
	return nil
}

// Close does nothing.
func (p *CountingPublisher) Close() error { return nil }

// Count is the number of messages published so far.
func (p *CountingPublisher) Count() int { return int(p.n.Load()) }
