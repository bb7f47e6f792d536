package messaging

import "github.com/ThreeDotsLabs/watermill/message"

// handlerStack is how much stack a message's handling is given up front.
// Watermill's router handles each message on a new goroutine, which starts
// with a small stack; Staybook's middleware chain, the JSON decoding and a
// database or broker call below it outgrow that stack on every message, and
// each time the runtime copies the stack and adjusts every frame on it
// (runtime.copystack: 2-9% of each service's CPU in profiles at 40
// bookings/s, docs/results/benchmarks.md). Growing the stack once, at the
// top of the goroutine where there are only a few frames to adjust, is
// cheap: BenchmarkMiddlewareChain's CPU per message fell 13-22%.
const handlerStack = 16 << 10

// growStack is the router's outermost middleware: it grows the handler
// goroutine's stack before the chain runs (see handlerStack).
func growStack(h message.HandlerFunc) message.HandlerFunc {
	return func(msg *message.Message) ([]*message.Message, error) {
		reserveStack()
		return h(msg)
	}
}

// reserveStack has a frame of handlerStack bytes: calling it makes the
// runtime grow the goroutine's stack to hold it, while the stack is shallow.
//
//go:noinline
func reserveStack() {
	var frame [handlerStack]byte
	touchStack(frame[:]) // the frame must exist: the compiler cannot see through touchStack
}

//go:noinline
func touchStack(b []byte) { b[len(b)-1] = 1 }
