package chaos

import (
	"testing"

	"github.com/staybook/staybook/shared/testkit"
)

// TestMain fails the package's tests if they leave goroutines behind: the
// run's stream, tracker, proxies and clients must all stop with it.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
