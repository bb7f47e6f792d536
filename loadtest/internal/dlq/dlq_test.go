package dlq

import (
	"testing"
	"time"
)

func TestParseAttempts_ReadsTheBookingsFailedAttemptsInOrder(t *testing.T) {
	t.Parallel()
	lines := []string{
		`time=2026-11-25T00:40:00.100Z level=WARN msg="handler attempt failed" service=email booking_id=b1 attempt=1`,
		`time=2026-11-25T00:40:00.150Z level=WARN msg="handler attempt failed" service=email booking_id=b2 attempt=1`,
		`time=2026-11-25T00:40:00.310Z level=WARN msg="handler attempt failed" service=email booking_id=b1 attempt=2`,
		`time=2026-11-25T00:40:00.320Z level=ERROR msg="message dead-lettered" service=email booking_id=b1`,
		`time=2026-11-25T00:40:00.700Z level=WARN msg="handler attempt failed" service=email booking_id=b1 attempt=3`,
	}
	got := parseAttempts(lines, "b1")
	r := Result{Attempts: got}
	d := r.Delays()
	if len(got) != 3 || len(d) != 2 || d[0] != 210*time.Millisecond || d[1] != 390*time.Millisecond {
		t.Fatalf("attempts %v, delays %v", got, d)
	}
}
