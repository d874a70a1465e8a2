// Package metrics holds the telemetry service's OpenTelemetry instruments for tool calls:
// osiris.tool.calls, osiris.tool.errors, osiris.tool.bytes_in, osiris.tool.bytes_out
// (counters) and osiris.tool.duration (histogram, ms), each with the attribute tool.
//
// Tool names come from callers, so the attribute's cardinality is bounded: the first Limit
// distinct names (seeded at start with the busiest tools already recorded) get their own
// series, and every later name is folded into "other". Attribute sets are built once per
// name and passed with metric.WithAttributeSet, so recording allocates nothing.
package metrics

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// DefaultLimit is how many tool names get their own series by default.
const DefaultLimit = 100

// Other is the tool attribute of the calls of tools beyond the limit.
const Other = "other"

// DurationBoundaries are the histogram's bucket bounds in milliseconds, from cache hits to
// five-minute calls.
func DurationBoundaries() []float64 {
	return []float64{0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000}
}

// Calls records tool calls on the instruments. It is safe for concurrent use.
type Calls struct {
	calls, errors, bytesIn, bytesOut metric.Int64Counter
	duration                         metric.Float64Histogram

	limit int
	other metric.MeasurementOption

	mu   sync.RWMutex
	sets map[string]metric.MeasurementOption // at most limit entries
}

// New creates the instruments on meter. limit bounds the distinct tool attributes; seed
// names the tools that get theirs first (the busiest known ones), at most limit of them.
func New(meter metric.Meter, limit int, seed []string) (*Calls, error) {
	c := &Calls{limit: limit, sets: make(map[string]metric.MeasurementOption, limit), other: option(Other)}
	var err error
	if c.calls, err = meter.Int64Counter("osiris.tool.calls", metric.WithDescription("tool calls recorded")); err != nil {
		return nil, err
	}
	if c.errors, err = meter.Int64Counter("osiris.tool.errors", metric.WithDescription("tool calls recorded with status error")); err != nil {
		return nil, err
	}
	// No unit on the byte counters: the Prometheus exporter would add a _bytes suffix to
	// names that already say bytes.
	if c.bytesIn, err = meter.Int64Counter("osiris.tool.bytes_in", metric.WithDescription("bytes of tool call arguments")); err != nil {
		return nil, err
	}
	if c.bytesOut, err = meter.Int64Counter("osiris.tool.bytes_out", metric.WithDescription("bytes of tool call results")); err != nil {
		return nil, err
	}
	if c.duration, err = meter.Float64Histogram("osiris.tool.duration", metric.WithUnit("ms"),
		metric.WithDescription("duration of tool calls"), metric.WithExplicitBucketBoundaries(DurationBoundaries()...)); err != nil {
		return nil, err
	}
	for _, tool := range seed {
		if len(c.sets) == limit {
			break
		}
		c.sets[tool] = option(tool)
	}
	return c, nil
}

func option(tool string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("tool", tool)))
}

// attrs returns the tool's attribute option, taking a new series while fewer than limit
// exist and folding the tool into "other" after that.
func (c *Calls) attrs(tool string) metric.MeasurementOption {
	c.mu.RLock()
	o, ok := c.sets[tool]
	c.mu.RUnlock()
	if ok {
		return o
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if o, ok := c.sets[tool]; ok {
		return o
	}
	if len(c.sets) >= c.limit {
		return c.other
	}
	o = option(tool)
	c.sets[tool] = o
	return o
}

// Observe records one acknowledged call.
func (c *Calls) Observe(call *telemetryv1.ToolCall) {
	ctx := context.Background()
	o := c.attrs(call.GetTool())
	c.calls.Add(ctx, 1, o)
	if call.GetStatus() == telemetryv1.CallStatus_CALL_STATUS_ERROR {
		c.errors.Add(ctx, 1, o)
	}
	c.bytesIn.Add(ctx, int64(call.GetBytesIn()), o) // validated <= 1 TiB
	c.bytesOut.Add(ctx, int64(call.GetBytesOut()), o)
	c.duration.Record(ctx, call.GetDurationMs(), o)
}
