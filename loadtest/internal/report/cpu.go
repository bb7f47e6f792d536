package report

import (
	"github.com/staybook/staybook/loadtest/internal/cpucost"
)

// CPUCost is the whole machine's CPU during the run, by part of the system
// (each service, RabbitMQ, PostgreSQL, Jaeger, Mailpit, the load
// generator), per booking. From /proc at the run's start and end (see
// package cpucost): the load, the drain and the checks.
type CPUCost struct {
	// Basis is what a booking is here: "fully processed" (final, and every
	// task of a running service done) when the run saw any, else
	// "accepted" (a front-door run with the consumers paused).
	Basis    string          `json:"basis"`
	Bookings int             `json:"bookings"`
	Parts    map[string]Part `json:"parts"`
	// ServicesMS is Staybook's services' CPU per booking, TotalMS all the
	// parts', in milliseconds.
	ServicesMS float64 `json:"services_ms_per_booking"`
	TotalMS    float64 `json:"total_ms_per_booking"`
}

// Part is one part's share.
type Part struct {
	cpucost.Usage
	MSPerBooking float64 `json:"ms_per_booking"`
}

// cpuCost divides usage by the bookings fully processed, or by those
// accepted when none was; nil without usage or bookings.
func cpuCost(usage map[string]cpucost.Usage, fullyProcessed, accepted int) *CPUCost {
	if len(usage) == 0 {
		return nil
	}
	c := &CPUCost{Basis: "fully processed", Bookings: fullyProcessed, Parts: map[string]Part{}}
	if fullyProcessed <= 0 {
		c.Basis, c.Bookings = "accepted", accepted
	}
	if c.Bookings <= 0 {
		return nil
	}
	for name, u := range usage {
		ms := u.Seconds * 1000 / float64(c.Bookings)
		c.Parts[name] = Part{Usage: u, MSPerBooking: round(ms)}
		c.TotalMS += ms
		for _, svc := range cpucost.Services {
			if name == svc {
				c.ServicesMS += ms
			}
		}
	}
	c.ServicesMS, c.TotalMS = round(c.ServicesMS), round(c.TotalMS)
	return c
}
