package metrics

import (
	"context"
	"fmt"
	"sync"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// Goroutines racing to record 50 tool names with a limit of 10 get exactly 10 named series
// (the seeded ones first) and "other", and every call is counted once.
func TestToolAttributeIsBoundedUnderConcurrency(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	c, err := New(mp.Meter("test"), 10, []string{"seeded-a", "seeded-b"})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				c.Observe(&telemetryv1.ToolCall{Tool: fmt.Sprintf("tool%d", (w+i)%50), Status: telemetryv1.CallStatus_CALL_STATUS_ERROR, DurationMs: 1, BytesIn: 3})
			}
		})
	}
	wg.Wait()
	c.Observe(&telemetryv1.ToolCall{Tool: "seeded-b", Status: telemetryv1.CallStatus_CALL_STATUS_OK})

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	series := map[string]map[string]int64{} // metric -> tool -> value
	for _, m := range rm.ScopeMetrics[0].Metrics {
		sum, ok := m.Data.(metricdata.Sum[int64])
		if !ok {
			continue
		}
		series[m.Name] = map[string]int64{}
		for _, dp := range sum.DataPoints {
			tool, _ := dp.Attributes.Value("tool")
			series[m.Name][tool.AsString()] += dp.Value
		}
	}
	calls := series["osiris.tool.calls"]
	// seeded-a holds one of the 10 places although it had no call, so 8 racing tools won one.
	if len(calls) != 10 || calls["seeded-b"] != 1 || calls[Other] == 0 {
		t.Fatalf("calls by tool: %v; want seeded-b, 8 others and other", calls)
	}
	total := int64(0)
	for _, v := range calls {
		total += v
	}
	if total != 8*500+1 || series["osiris.tool.errors"][Other] == 0 {
		t.Fatalf("%d calls counted, want %d; errors %v", total, 8*500+1, series["osiris.tool.errors"])
	}
	if bytes := series["osiris.tool.bytes_in"]; sumOf(bytes) != 3*8*500 {
		t.Fatalf("bytes in %v, want %d in all", bytes, 3*8*500)
	}
}

func sumOf(m map[string]int64) int64 {
	s := int64(0)
	for _, v := range m {
		s += v
	}
	return s
}
