package deepstack

import (
	"runtime/metrics"
	"testing"
)

// TestReserve_GrowsTheStack: after Reserve, a goroutine can go Size deep
// without the runtime growing its stack again. The runtime counts no stack
// growth, so the test reads the goroutine stack memory in use instead: a
// goroutine that reserved holds at least Size of stack.
func TestReserve_GrowsTheStack(t *testing.T) {
	before := stackInUse()
	const goroutines = 64
	release := make(chan struct{})
	ready := make(chan struct{})
	for range goroutines {
		go func() {
			Reserve()
			ready <- struct{}{}
			<-release
		}()
	}
	for range goroutines {
		<-ready
	}
	grown := stackInUse() - before
	close(release)
	if grown < goroutines*Size {
		t.Fatalf("%d goroutines that reserved hold %d bytes of stack more than before, want at least %d (%d each)", goroutines, grown, goroutines*Size, Size)
	}
}

func stackInUse() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}
