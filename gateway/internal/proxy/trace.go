package proxy

import (
	"context"
	"encoding/json"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// traced starts the gateway's span for one request from an agent. The caller's trace context
// comes from the request's _meta (the MCP convention) or, failing that, its HTTP headers; the
// span's context is spliced into the params' _meta (when the request has params), so the
// upstream continues the trace.
func (p *Proxy) traced(ctx context.Context, call *wire.Call, header http.Header) (context.Context, trace.Span) {
	if p.cfg.Propagator == nil || p.cfg.Tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	carrier := propagation.MapCarrier{}
	if meta, ok := wire.Member(call.Params, "_meta"); ok {
		var m map[string]json.RawMessage
		json.Unmarshal(meta, &m)
		for _, k := range []string{"traceparent", "tracestate"} {
			var v string
			if json.Unmarshal(m[k], &v) == nil && v != "" {
				carrier[k] = v
			}
		}
	}
	if carrier["traceparent"] != "" {
		ctx = p.cfg.Propagator.Extract(ctx, carrier)
	} else if header != nil {
		ctx = p.cfg.Propagator.Extract(ctx, propagation.HeaderCarrier(header))
	}
	ctx, span := p.cfg.Tracer.Start(ctx, call.Method, trace.WithSpanKind(trace.SpanKindServer))
	if call.Params != nil && call.Method != "initialize" && span.SpanContext().IsValid() {
		out := propagation.MapCarrier{}
		p.cfg.Propagator.Inject(ctx, out)
		for k, v := range out {
			call.SetMeta(k, v)
		}
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
