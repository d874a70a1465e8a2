package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/semconv/v1.41.0/mcpconv"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// maxToolNames bounds the gen_ai.tool.name attribute: agents may call any name, and each would
// be a new series; names past the bound are recorded as "other".
const maxToolNames = 100

// Metrics are the OpenTelemetry semantic-convention instruments for MCP: operations towards
// agents (server side) and towards upstreams (client side), and agent session durations.
type Metrics struct {
	server    mcpconv.ServerOperationDuration
	client    mcpconv.ClientOperationDuration
	session   mcpconv.ServerSessionDuration
	transport mcpconv.NetworkTransportAttr

	mu    sync.Mutex
	tools map[string]bool
}

// NewMetrics creates the instruments on meter; transport is "tcp" (HTTP) or "pipe" (stdio).
func NewMetrics(meter metric.Meter, transport mcpconv.NetworkTransportAttr) (*Metrics, error) {
	m := &Metrics{transport: transport, tools: map[string]bool{}}
	var err error
	if m.server, err = mcpconv.NewServerOperationDuration(meter); err != nil {
		return nil, err
	}
	if m.client, err = mcpconv.NewClientOperationDuration(meter); err != nil {
		return nil, err
	}
	if m.session, err = mcpconv.NewServerSessionDuration(meter); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) toolName(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tools[name] {
		return name
	}
	if len(m.tools) < maxToolNames {
		m.tools[name] = true
		return name
	}
	return "other"
}

func (m *Metrics) attrs(method string, params json.RawMessage, version string, err error) []attribute.KeyValue {
	kv := []attribute.KeyValue{
		m.server.AttrNetworkTransport(m.transport),
	}
	if version != "" {
		kv = append(kv, m.server.AttrProtocolVersion(version))
	}
	if method == "tools/call" {
		var p struct{ Name string }
		json.Unmarshal(params, &p)
		kv = append(kv, m.server.AttrGenAIToolName(m.toolName(p.Name)))
	}
	if err != nil {
		kv = append(kv, m.server.AttrErrorType(errorType(err)))
	}
	return kv
}

// operation records one request from an agent.
func (m *Metrics) operation(ctx context.Context, began time.Time, call *wire.Call, version string, err error) {
	if m == nil {
		return
	}
	m.server.Record(ctx, time.Since(began).Seconds(), mcpconv.MethodNameAttr(call.Method), m.attrs(call.Method, call.Params, version, err)...)
}

// upstream records one request to the upstream.
func (m *Metrics) upstream(ctx context.Context, began time.Time, method string, params json.RawMessage, version string, err error) {
	if m == nil {
		return
	}
	m.client.Record(ctx, time.Since(began).Seconds(), mcpconv.MethodNameAttr(method), m.attrs(method, params, version, err)...)
}

// sessionEnded records how long an agent's session lasted.
func (m *Metrics) sessionEnded(began time.Time, version string) {
	if m == nil {
		return
	}
	m.session.Record(context.Background(), time.Since(began).Seconds(),
		m.session.AttrNetworkTransport(m.transport), m.session.AttrProtocolVersion(version))
}

// errorType is the JSON-RPC error code, or _OTHER, as the conventions ask.
func errorType(err error) mcpconv.ErrorTypeAttr {
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) {
		return mcpconv.ErrorTypeAttr(strconv.FormatInt(rpc.Code, 10))
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "_OTHER"
}
