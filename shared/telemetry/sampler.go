package telemetry

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultSampler is the sampler when OTEL_TRACES_SAMPLER is not set:
// parent-based, always on for a new trace. A service samples a request or a
// message exactly when its caller did (the sampled flag travels in the
// traceparent header and in the message metadata, see Inject), so a booking
// is recorded whole or not at all.
const DefaultSampler = "parentbased_always_on"

// Sampler reads the standard OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG:
// always_on, always_off, traceidratio, parentbased_always_on (the default),
// parentbased_always_off, parentbased_traceidratio. The ratio samplers take
// their ratio in [0, 1] from the argument (1 without one). An unknown
// sampler or a bad ratio is an error, so that a typo stops the service at
// start instead of silently tracing everything (the SDK on its own only
// logs it and falls back to the default).
//
// For a sample of whole bookings, use parentbased_traceidratio: the front
// door decides by the trace ID and every consumer follows that decision. A
// plain traceidratio also keeps bookings whole when every service has the
// same ratio (the decision is a function of the trace ID), but ignores a
// caller's flag.
func Sampler() (sdktrace.Sampler, error) {
	name := strings.ToLower(strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(os.Getenv("OTEL_TRACES_SAMPLER_ARG"))
	ratio := func() (sdktrace.Sampler, error) {
		if arg == "" {
			return sdktrace.TraceIDRatioBased(1), nil
		}
		v, err := strconv.ParseFloat(arg, 64)
		if err != nil || v < 0 || v > 1 {
			return nil, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG: %q is not a ratio between 0 and 1 (for OTEL_TRACES_SAMPLER=%s)", arg, name)
		}
		return sdktrace.TraceIDRatioBased(v), nil
	}
	switch name {
	case "", DefaultSampler:
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "traceidratio":
		return ratio()
	case "parentbased_traceidratio":
		root, err := ratio()
		if err != nil {
			return nil, err
		}
		return sdktrace.ParentBased(root), nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_SAMPLER: %q is not supported (always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio)", name)
	}
}
