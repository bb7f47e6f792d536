// Package domain is what the web tier knows without asking anyone: the
// rules of a booking request, the booking IDs it issues (and recognises),
// the catalogue's hotels and room types, a booking and its availability as
// the booking service reports them, and a booking's trace as a waterfall.
package domain
