// Package pace holds the load test's rate profiles (constant, ramp, spike)
// as vegeta Pacers: a profile is a piecewise-linear rate over the run, and
// the pacer sends the next request when the integral of the rate says so.
package pace

import (
	"fmt"
	"math"
	"time"
)

// Segment is a stretch of the run over which the rate goes linearly from
// From to To requests per second.
type Segment struct {
	Start, End time.Duration
	From, To   float64
}

// Profile is a rate over a run of Duration; it implements vegeta.Pacer.
type Profile struct {
	Name     string
	Duration time.Duration
	Segments []Segment
}

// Constant is rate requests per second for d.
func Constant(rate float64, d time.Duration) Profile {
	return Profile{Name: "constant", Duration: d, Segments: []Segment{{0, d, rate, rate}}}
}

// Ramp grows linearly from `from` to `to` requests per second over d.
func Ramp(from, to float64, d time.Duration) Profile {
	return Profile{Name: "ramp", Duration: d, Segments: []Segment{{0, d, from, to}}}
}

// Spike is base requests per second, factor times base from at for length,
// and base again until d: the promotion of the story.
func Spike(base, factor float64, at, length, d time.Duration) Profile {
	end := min(at+length, d)
	return Profile{Name: "spike", Duration: d, Segments: []Segment{
		{0, at, base, base}, {at, end, base * factor, base * factor}, {end, d, base, base},
	}}
}

// Validate reports a profile that cannot be paced.
func (p Profile) Validate() error {
	if p.Duration <= 0 {
		return fmt.Errorf("%s profile: duration %s must be positive", p.Name, p.Duration)
	}
	for _, s := range p.Segments {
		if s.From < 0 || s.To < 0 || math.IsNaN(s.From) || math.IsNaN(s.To) {
			return fmt.Errorf("%s profile: negative rate", p.Name)
		}
	}
	if p.Hits(p.Duration) < 1 {
		return fmt.Errorf("%s profile: less than one request in %s", p.Name, p.Duration)
	}
	return nil
}

// Rate is the rate (requests per second) at elapsed.
func (p Profile) Rate(elapsed time.Duration) float64 {
	for _, s := range p.Segments {
		if elapsed >= s.Start && elapsed < s.End {
			return s.rate(elapsed)
		}
	}
	return 0
}

func (s Segment) rate(t time.Duration) float64 {
	if s.End <= s.Start {
		return s.From
	}
	f := float64(t-s.Start) / float64(s.End-s.Start)
	return s.From + (s.To-s.From)*f
}

// Hits is how many requests the profile sends in [0, t): the integral of the rate.
func (p Profile) Hits(t time.Duration) float64 {
	var n float64
	for _, s := range p.Segments {
		if t <= s.Start {
			break
		}
		end := min(t, s.End)
		// trapezoid: exact for a linear rate
		n += (s.rate(s.Start) + s.rate(end)) / 2 * (end - s.Start).Seconds()
	}
	return n
}

// Total is how many requests the whole run sends.
func (p Profile) Total() int { return int(p.Hits(p.Duration)) }

// Peak is the highest rate of the profile.
func (p Profile) Peak() float64 {
	var m float64
	for _, s := range p.Segments {
		m = max(m, s.From, s.To)
	}
	return m
}

// Pace implements vegeta.Pacer: request number hits (from 0) is due when
// the integral of the rate reaches hits; send it now if it is due (or
// late), otherwise wait until then; stop at the end of the run.
func (p Profile) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if elapsed >= p.Duration {
		return 0, true
	}
	next := float64(hits)
	if p.Hits(elapsed) >= next-1e-9 {
		return 0, false
	}
	if p.Hits(p.Duration) < next+1e-6 {
		return 0, true // due at or after the end: vegeta would send it after its sleep
	}
	lo, hi := elapsed, p.Duration
	for hi-lo > 50*time.Microsecond {
		mid := lo + (hi-lo)/2
		if p.Hits(mid) >= next {
			hi = mid
		} else {
			lo = mid
		}
	}
	return hi - elapsed, false
}

// Parse builds the named profile: constant at rate; ramp from rate/10 (at
// least 1/s) to rate; spike at rate with factor times rate from at for
// length (zero: the middle third of the run).
func Parse(name string, rate float64, d time.Duration, factor float64, at, length time.Duration) (Profile, error) {
	var p Profile
	switch name {
	case "constant":
		p = Constant(rate, d)
	case "ramp":
		p = Ramp(max(rate/10, 1), rate, d)
	case "spike":
		if at == 0 && length == 0 {
			at, length = d/3, d/3
		}
		if factor <= 0 {
			factor = 10
		}
		p = Spike(rate, factor, at, length, d)
	default:
		return p, fmt.Errorf("profile %q: want constant, ramp or spike", name)
	}
	return p, p.Validate()
}

// String describes the profile for people.
func (p Profile) String() string {
	switch p.Name {
	case "spike":
		s := p.Segments[1]
		return fmt.Sprintf("spike: %.0f/s, %.0f/s from %s to %s, then %.0f/s, for %s",
			p.Segments[0].From, s.From, s.Start, s.End, p.Segments[2].From, p.Duration)
	case "ramp":
		s := p.Segments[0]
		return fmt.Sprintf("ramp: %.0f/s to %.0f/s over %s", s.From, s.To, p.Duration)
	default:
		return fmt.Sprintf("constant: %.0f/s for %s", p.Segments[0].From, p.Duration)
	}
}
