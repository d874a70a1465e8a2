package serve

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace/noop"
	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

func TestOTLPFromEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want otlpExport
		err  string
	}{
		{"nothing set: Prometheus only", nil, otlpExport{}, ""},
		{"protocol alone exports nothing", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, otlpExport{}, ""},
		{"endpoint: both signals, http/protobuf by default",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, otlpExport{Metrics: protoHTTP, Traces: protoHTTP}, ""},
		{"endpoint and grpc",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, otlpExport{Metrics: protoGRPC, Traces: protoGRPC}, ""},
		{"metrics endpoint only",
			map[string]string{"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c:4318/v1/metrics"}, otlpExport{Metrics: protoHTTP}, ""},
		{"traces endpoint only, signal protocol wins",
			map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
			otlpExport{Traces: protoGRPC}, ""},
		{"traces exporter none",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, otlpExport{Metrics: protoHTTP}, ""},
		{"sdk disabled",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, otlpExport{}, ""},
		{"http/json is refused",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, otlpExport{}, `OTEL_EXPORTER_OTLP_PROTOCOL="http/json"`},
		{"bad signal protocol names its variable",
			map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "udp"}, otlpExport{}, `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="udp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otlpFromEnv(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("otlpFromEnv = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// Without OTLP variables the tracer stays the noop one: nothing is recorded or sent.
func TestTelemetryWithoutOTLPKeepsNoopTracer(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	tel, err := NewTelemetry("plain")
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	if _, ok := tel.TracerProvider.(noop.TracerProvider); !ok {
		t.Fatalf("tracer provider is %T, want the noop one", tel.TracerProvider)
	}
}

// collector is an OTLP receiver stub: it remembers the metric and span names it was sent,
// with the service.name of their resource.
type collector struct {
	colmetricpb.UnimplementedMetricsServiceServer
	mu      sync.Mutex
	metrics []string // "service/metric"
	spans   []string // "service/span"
}

func resourceService(attrs []*commonpb.KeyValue) string {
	for _, kv := range attrs {
		if kv.GetKey() == "service.name" {
			return kv.GetValue().GetStringValue()
		}
	}
	return "?"
}

func (c *collector) Export(_ context.Context, req *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		svc := resourceService(rm.GetResource().GetAttributes())
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				c.metrics = append(c.metrics, svc+"/"+m.GetName())
			}
		}
	}
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

func (c *collector) exportSpans(req *coltracepb.ExportTraceServiceRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		svc := resourceService(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, svc+"/"+s.GetName())
			}
		}
	}
}

func (c *collector) seen() (metrics, spans []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.metrics), slices.Clone(c.spans)
}

// traceServer adapts the collector to the trace service, whose method is also named Export.
type traceServer struct {
	coltracepb.UnimplementedTraceServiceServer
	c *collector
}

func (t traceServer) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	t.c.exportSpans(req)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// startGRPCCollector serves the collector over OTLP/gRPC and returns its endpoint URL.
func startGRPCCollector(t *testing.T, c *collector) string {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(srv, c)
	coltracepb.RegisterTraceServiceServer(srv, traceServer{c: c})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return "http://" + lis.Addr().String()
}

// startHTTPCollector serves the collector over OTLP/HTTP with protobuf bodies.
func startHTTPCollector(t *testing.T, c *collector) string {
	mux := http.NewServeMux()
	handle := func(path string, resp proto.Message, deliver func(body []byte) error) {
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err == nil {
				err = deliver(body)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			out, _ := proto.Marshal(resp)
			w.Header().Set("Content-Type", "application/x-protobuf")
			w.Write(out)
		})
	}
	handle("/v1/metrics", &colmetricpb.ExportMetricsServiceResponse{}, func(body []byte) error {
		req := &colmetricpb.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			return err
		}
		_, err := c.Export(context.Background(), req)
		return err
	})
	handle("/v1/traces", &coltracepb.ExportTraceServiceResponse{}, func(body []byte) error {
		req := &coltracepb.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			return err
		}
		c.exportSpans(req)
		return nil
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// With the standard variables set, metrics and spans reach an OTLP collector (over gRPC and
// over HTTP), and Shutdown flushes both before it returns; /metrics keeps working alongside.
func TestTelemetryExportsOverOTLP(t *testing.T) {
	for _, tt := range []struct {
		protocol string
		start    func(*testing.T, *collector) string
	}{{protoGRPC, startGRPCCollector}, {protoHTTP, startHTTPCollector}} {
		t.Run(tt.protocol, func(t *testing.T) {
			c := &collector{}
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", tt.start(t, c))
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tt.protocol)
			t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000") // only the flush at shutdown
			tel, err := NewTelemetry("otlptest")
			if err != nil {
				t.Fatal(err)
			}
			counter, err := tel.MeterProvider.Meter("test").Int64Counter("osiris.test.calls")
			if err != nil {
				t.Fatal(err)
			}
			counter.Add(context.Background(), 3)
			_, span := tel.TracerProvider.Tracer("test").Start(context.Background(), "test-span")
			span.End()

			families, err := tel.Registry.Gather()
			if err != nil {
				t.Fatal(err)
			}
			onProm := false
			for _, f := range families {
				onProm = onProm || f.GetName() == "osiris_test_calls_total"
			}
			if !onProm {
				t.Fatal("the Prometheus registry lacks the counter when OTLP export is on")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := tel.Shutdown(ctx); err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			metrics, spans := c.seen()
			if !slices.Contains(metrics, "osiris-otlptest/osiris.test.calls") {
				t.Fatalf("collector got metrics %v, want osiris-otlptest/osiris.test.calls", metrics)
			}
			if !slices.Contains(spans, "osiris-otlptest/test-span") {
				t.Fatalf("collector got spans %v, want osiris-otlptest/test-span", spans)
			}
		})
	}
}
