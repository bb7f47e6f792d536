package main

import (
	"os"
	"testing"

	"github.com/staybook/staybook/shared/testkit"
)

// TestMain fails the package's tests if they leave goroutines running, and
// removes the dlq binary the CLI test built.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(removeDLQAfter{m}) }

// removeDLQAfter runs the tests, then removes the dlq binary.
type removeDLQAfter struct{ m *testing.M }

func (r removeDLQAfter) Run() int {
	code := r.m.Run()
	if dlqBinary.dir != "" {
		os.RemoveAll(dlqBinary.dir)
	}
	return code
}
