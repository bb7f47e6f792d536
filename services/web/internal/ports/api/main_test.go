package api

import (
	"testing"

	"github.com/staybook/staybook/shared/testkit"
)

// TestMain fails the package's tests if they leave goroutines running.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
