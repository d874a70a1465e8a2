package serve

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// OTLP protocols of OTEL_EXPORTER_OTLP_PROTOCOL that we support. http/json is not offered by
// the Go exporters.
const (
	protoGRPC = "grpc"
	protoHTTP = "http/protobuf" // the specification's default
)

// otlpExport is what the standard OpenTelemetry environment asks of OTLP export: the protocol
// per signal, "" when that signal is not exported.
type otlpExport struct {
	Metrics string
	Traces  string
}

// otlpFromEnv reads the standard variables: a signal is exported when OTEL_EXPORTER_OTLP_ENDPOINT
// or its signal-specific OTEL_EXPORTER_OTLP_{METRICS,TRACES}_ENDPOINT is set, unless
// OTEL_SDK_DISABLED=true or OTEL_{METRICS,TRACES}_EXPORTER=none. The protocol is the
// signal-specific OTEL_EXPORTER_OTLP_*_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL, else
// http/protobuf. The exporters read the endpoint, headers, TLS, compression and timeout
// variables themselves; the periodic reader reads OTEL_METRIC_EXPORT_INTERVAL and the tracer
// provider OTEL_TRACES_SAMPLER.
func otlpFromEnv(lookup func(string) (string, bool)) (otlpExport, error) {
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return otlpExport{}, nil
	}
	signal := func(name string) (string, error) {
		if get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_"+name+"_ENDPOINT") == "" {
			return "", nil
		}
		if strings.EqualFold(get("OTEL_"+name+"_EXPORTER"), "none") {
			return "", nil
		}
		protocol, key := get("OTEL_EXPORTER_OTLP_"+name+"_PROTOCOL"), "OTEL_EXPORTER_OTLP_"+name+"_PROTOCOL"
		if protocol == "" {
			protocol, key = get("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
		}
		switch protocol {
		case "":
			return protoHTTP, nil
		case protoGRPC, protoHTTP:
			return protocol, nil
		}
		return "", fmt.Errorf("%s=%q: supported protocols are %s and %s", key, protocol, protoGRPC, protoHTTP)
	}
	var out otlpExport
	var err error
	if out.Metrics, err = signal("METRICS"); err != nil {
		return otlpExport{}, err
	}
	if out.Traces, err = signal("TRACES"); err != nil {
		return otlpExport{}, err
	}
	return out, nil
}

// otlpMetricReader is a periodic reader that pushes to the OTLP endpoint.
func otlpMetricReader(ctx context.Context, protocol string) (sdkmetric.Reader, error) {
	var exp sdkmetric.Exporter
	var err error
	if protocol == protoGRPC {
		exp, err = otlpmetricgrpc.New(ctx)
	} else {
		exp, err = otlpmetrichttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP metric exporter: %w", err)
	}
	return sdkmetric.NewPeriodicReader(exp), nil
}

// otlpSpanExporter sends spans to the OTLP endpoint.
func otlpSpanExporter(ctx context.Context, protocol string) (sdktrace.SpanExporter, error) {
	var exp sdktrace.SpanExporter
	var err error
	if protocol == protoGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP span exporter: %w", err)
	}
	return exp, nil
}
