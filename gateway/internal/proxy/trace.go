package proxy

import (
	"context"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// metaCarrier reads and writes W3C trace context (traceparent, tracestate) in an MCP _meta map.
type metaCarrier map[string]any

func (m metaCarrier) Get(key string) string {
	s, _ := m[key].(string)
	return s
}

func (m metaCarrier) Set(key, value string) { m[key] = value }

func (m metaCarrier) Keys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// traced starts the gateway's span for one request from an agent. The caller's trace context
// comes from the request's _meta (the MCP convention) or, failing that, its HTTP headers; the
// span's context is written back into _meta, so the upstream receives it too.
func (p *Proxy) traced(ctx context.Context, method string, req mcp.Request) (context.Context, trace.Span) {
	if p.cfg.Propagator == nil || p.cfg.Tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	params := req.GetParams()
	var meta map[string]any
	if !isNil(params) {
		meta = params.GetMeta()
	}
	if meta != nil && metaCarrier(meta).Get("traceparent") != "" {
		ctx = p.cfg.Propagator.Extract(ctx, metaCarrier(meta))
	} else if extra := req.GetExtra(); extra != nil && extra.Header != nil {
		ctx = p.cfg.Propagator.Extract(ctx, propagation.HeaderCarrier(extra.Header))
	}
	ctx, span := p.cfg.Tracer.Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
	if !isNil(params) && method != "initialize" {
		if meta == nil {
			meta = map[string]any{}
		}
		p.cfg.Propagator.Inject(ctx, metaCarrier(meta))
		params.SetMeta(meta)
	}
	return ctx, span
}

// TraceTransport adds the request context's trace context to outgoing HTTP requests (the
// upstream's streamable HTTP POSTs carry the caller's context).
type TraceTransport struct {
	Base       http.RoundTripper
	Propagator propagation.TextMapPropagator
}

// RoundTrip implements http.RoundTripper.
func (t TraceTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	t.Propagator.Inject(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.Base.RoundTrip(r)
}
