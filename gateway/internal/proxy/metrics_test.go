package proxy

import (
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"
)

func TestToolNameAttributeIsBounded(t *testing.T) {
	m, err := NewMetrics(noop.NewMeterProvider().Meter("t"), mcpconv.NetworkTransportTCP)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for i := range 3 * maxToolNames {
		distinct[m.toolName(fmt.Sprintf("tool%d", i))] = true
	}
	if len(distinct) != maxToolNames+1 || !distinct["other"] || m.toolName("tool0") != "tool0" {
		t.Fatalf("%d distinct attribute values, want %d names and other", len(distinct), maxToolNames)
	}
}
