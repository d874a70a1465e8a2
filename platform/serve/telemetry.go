package serve

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/stats"
)

// Telemetry is one service's own OpenTelemetry providers and Prometheus registry. Nothing is
// global: in `osiris up` four services share a process, and shared providers would mix their
// series.
type Telemetry struct {
	Registry       *prometheus.Registry
	MeterProvider  *sdkmetric.MeterProvider
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator

	// shutdownTracer flushes and stops an OTLP-exporting tracer provider; nil otherwise.
	shutdownTracer func(context.Context) error
}

// NewTelemetry builds the providers of one component ("audit", "gateway"): a Prometheus
// registry with the Go and process collectors, a meter provider exporting to it (and over OTLP
// when the standard variables ask), a tracer provider (OTLP, or noop) and the W3C propagator.
func NewTelemetry(service string) (*Telemetry, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	res := resource.NewSchemaless(semconv.ServiceName("osiris-" + service))
	otlp, err := otlpFromEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	// otelgrpc's server metrics carry method, system and status only (no peer address), so
	// their cardinality is bounded without a filtering view, which would cost a hash per call.
	opts := []sdkmetric.Option{sdkmetric.WithReader(exporter), sdkmetric.WithResource(res)}
	if otlp.Metrics != "" {
		r, err := otlpMetricReader(context.Background(), otlp.Metrics)
		if err != nil {
			return nil, err
		}
		opts = append(opts, sdkmetric.WithReader(r))
	}
	t := &Telemetry{
		Registry:      reg,
		MeterProvider: sdkmetric.NewMeterProvider(opts...),
		// Without a span exporter, a recording tracer with nowhere to send spans cost a tenth of
		// a small RPC in the audit benchmark. The noop tracer still carries the caller's trace
		// context through, so spans join up where an exporter is configured.
		TracerProvider: noop.NewTracerProvider(),
		Propagator:     propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if otlp.Traces != "" {
		exp, err := otlpSpanExporter(context.Background(), otlp.Traces)
		if err != nil {
			t.MeterProvider.Shutdown(context.Background())
			return nil, err
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
		t.TracerProvider, t.shutdownTracer = tp, tp.Shutdown
	}
	return t, nil
}

func (t *Telemetry) serverHandler() stats.Handler {
	return otelgrpc.NewServerHandler(
		otelgrpc.WithMeterProvider(t.MeterProvider),
		otelgrpc.WithTracerProvider(t.TracerProvider),
		otelgrpc.WithPropagators(t.Propagator),
	)
}

// Shutdown flushes and stops the meter provider and, with OTLP export, the tracer provider
// and both exporters.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	err := t.MeterProvider.Shutdown(ctx)
	if t.shutdownTracer != nil {
		err = errors.Join(err, t.shutdownTracer(ctx))
	}
	return err
}
