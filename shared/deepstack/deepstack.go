// Package deepstack grows a goroutine's stack once, while it is shallow,
// for work that would otherwise grow it frame by frame deep down.
//
// A goroutine starts with a small stack; when a call needs more, the
// runtime allocates one twice the size, copies the old one and adjusts every
// frame on it (runtime.copystack), and the deeper the goroutine is then, the
// more frames there are to adjust. Watermill's router handles each message on
// a new goroutine, and the middleware chain, the JSON decoding and a
// database or broker call below it outgrow the first stack every time: runtime.copystack was 2-9% of each service's
// CPU in profiles at 40 bookings/s (docs/results/benchmarks.md). Growing the
// stack at the top of such a goroutine, where only a few frames are on it,
// costs little, and the work below then runs without a copy:
// BenchmarkMiddlewareChain (shared/messaging) used 13-22% less CPU per message.
package deepstack

// Size is the stack reserved: enough for a message's handling in Staybook's
// services (the profiles show little copystack under it with it).
//
// The HTTP servers and the publisher's send goroutines do not use it: there
// is a goroutine per open connection and per publish in flight, thousands
// of them when the web tier is overloaded, each of which would hold Size
// more, and with it the web tier's CPU per booking at 2,000 bookings/s did
// not measurably fall (docs/results/benchmarks.md).
const Size = 16 << 10

// Reserve makes sure the calling goroutine has at least Size bytes of stack
// free below its caller's frame. Call it first thing in a goroutine that
// goes deep; on a goroutine whose stack is already large it costs a call
// and clearing Size bytes (about 0.1 µs). It is never inlined: its frame must
// be gone again when it returns, leaving the room it made to the calls after it.
//
//go:noinline
func Reserve() {
	var frame [Size]byte
	touch(frame[:]) // the frame must exist: the compiler cannot see through touch
}

//go:noinline
func touch(b []byte) { b[len(b)-1] = 1 }
