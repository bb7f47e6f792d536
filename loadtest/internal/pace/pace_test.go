package pace

import (
	"math"
	"testing"
	"time"
)

// simulate runs the pacer on a virtual clock and returns the send times;
// like vegeta, it sends after a wait without asking again.
func simulate(t *testing.T, p Profile) []time.Duration {
	t.Helper()
	var sent []time.Duration
	var now time.Duration
	for i := 0; i < 1_000_000; i++ {
		wait, stop := p.Pace(now, uint64(len(sent)))
		if stop {
			return sent
		}
		now += wait
		sent = append(sent, now)
	}
	t.Fatal("pacer never stopped")
	return nil
}

func countIn(sent []time.Duration, from, to time.Duration) int {
	n := 0
	for _, s := range sent {
		if s >= from && s < to {
			n++
		}
	}
	return n
}

func TestConstant_SendsRateTimesDurationEvenlySpaced(t *testing.T) {
	t.Parallel()
	sent := simulate(t, Constant(50, 4*time.Second))
	if len(sent) != 200 {
		t.Fatalf("sent %d, want 200", len(sent))
	}
	for s := range 4 {
		if n := countIn(sent, time.Duration(s)*time.Second, time.Duration(s+1)*time.Second); n != 50 {
			t.Fatalf("second %d: %d requests, want 50", s, n)
		}
	}
}

func TestRamp_RateGrowsLinearlyToTheTarget(t *testing.T) {
	t.Parallel()
	p := Ramp(10, 100, 10*time.Second)
	sent := simulate(t, p)
	if want := 550; math.Abs(float64(len(sent)-want)) > 1 {
		t.Fatalf("sent %d, want %d (the area under the ramp)", len(sent), want)
	}
	first, last := countIn(sent, 0, time.Second), countIn(sent, 9*time.Second, 10*time.Second)
	if first < 13 || first > 16 || last < 94 || last > 97 {
		t.Fatalf("first second %d (want about 14.5), last %d (want about 95.5)", first, last)
	}
}

func TestSpike_BurstsToFactorTimesBaselineThenReturns(t *testing.T) {
	t.Parallel()
	p := Spike(20, 10, 3*time.Second, 2*time.Second, 9*time.Second)
	sent := simulate(t, p)
	if len(sent) != 20*7+200*2 {
		t.Fatalf("sent %d, want %d", len(sent), 20*7+200*2)
	}
	if n := countIn(sent, 2*time.Second, 3*time.Second); n != 20 {
		t.Fatalf("before the spike: %d/s", n)
	}
	if n := countIn(sent, 3*time.Second, 4*time.Second); n != 200 {
		t.Fatalf("in the spike: %d/s", n)
	}
	if n := countIn(sent, 6*time.Second, 7*time.Second); n != 20 {
		t.Fatalf("after the spike: %d/s", n)
	}
	if p.Peak() != 200 || p.Rate(3500*time.Millisecond) != 200 || p.Rate(time.Second) != 20 {
		t.Fatalf("peak %v, rates %v %v", p.Peak(), p.Rate(3500*time.Millisecond), p.Rate(time.Second))
	}
}

func TestPace_LateSenderIsToldToSendAtOnce(t *testing.T) {
	t.Parallel()
	p := Constant(10, 10*time.Second)
	if wait, stop := p.Pace(5*time.Second, 3); wait != 0 || stop {
		t.Fatalf("behind by 47 requests: wait %s stop %v", wait, stop)
	}
	if wait, _ := p.Pace(0, 1); wait < 99*time.Millisecond || wait > 101*time.Millisecond {
		t.Fatalf("second request waits %s, want 100ms", wait)
	}
}

func TestParse_RefusesUnknownProfilesAndEmptyRuns(t *testing.T) {
	t.Parallel()
	if _, err := Parse("sine", 10, time.Second, 0, 0, 0); err == nil {
		t.Fatal("unknown profile accepted")
	}
	if _, err := Parse("constant", 0, time.Second, 0, 0, 0); err == nil {
		t.Fatal("a run of zero requests accepted")
	}
	p, err := Parse("spike", 10, 30*time.Second, 0, 0, 0)
	if err != nil || p.Segments[1].Start != 10*time.Second || p.Segments[1].From != 100 {
		t.Fatalf("default spike: %+v %v", p, err)
	}
}
