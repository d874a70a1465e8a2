// Package fanout puts the state-plane services around every call the gateway forwards: one
// correlation id per call, the same in the audit log, the upstream request's _meta and the
// reply's _meta.
package fanout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
)

// MetaKey is the _meta key that carries the correlation id, to the upstream and to the agent.
const MetaKey = "correlation_id"

// CodeAuditUnavailable is the JSON-RPC error code of a call refused because the audit service
// could not record it (fail-closed).
const CodeAuditUnavailable = -32010

// Audit records every forwarded call in the audit service.
type Audit struct {
	appender appender
	failOpen bool
	log      *slog.Logger
	gaps     metric.Int64Counter
}

// NewAudit builds the audit fan-out. With failOpen, a call goes through even when it cannot be
// audited, and the gap is counted in osiris.gateway.audit_gaps. Each request to the audit
// service gets a span from tracer, linked to the calls whose events it carries.
func NewAudit(client auditv1.AuditServiceClient, failOpen bool, meter metric.Meter, tracer trace.Tracer, log *slog.Logger) (*Audit, error) {
	gaps, err := meter.Int64Counter("osiris.gateway.audit_gaps", metric.WithDescription("audit events that could not be recorded (fail-open only)"))
	if err != nil {
		return nil, err
	}
	return &Audit{appender: appender{client: client, tracer: tracer}, failOpen: failOpen, log: log, gaps: gaps}, nil
}

// NewCorrelationID returns an id unique across processes and restarts (96 random bits), in the
// original's mcp_ prefix.
func NewCorrelationID() string {
	var b [12]byte
	rand.Read(b[:])
	return "mcp_" + hex.EncodeToString(b[:])
}

// Around is a proxy.Around that audits tools/call and resources/read.
func (a *Audit) Around(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	switch p := req.GetParams().(type) {
	case *mcp.CallToolParamsRaw:
		if p != nil {
			return a.toolCall(ctx, proxy.SessionID(ctx), p, forward)
		}
	case *mcp.ReadResourceParams:
		if p != nil {
			return a.resourceRead(ctx, proxy.SessionID(ctx), p, forward)
		}
	}
	return forward(ctx)
}

func (a *Audit) toolCall(ctx context.Context, session string, p *mcp.CallToolParamsRaw, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	corr := NewCorrelationID()
	if p.Meta == nil {
		p.Meta = mcp.Meta{}
	}
	p.Meta[MetaKey] = corr
	start := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, SessionId: session,
		CorrelationId: corr, Tool: p.Name, Arguments: arguments(p.Arguments), BytesIn: uint64(len(p.Arguments))}
	if err := a.record(ctx, start); err != nil {
		return nil, err
	}
	ctx = withSizeMemo(ctx) // telemetry, inside, measures the result once for both
	began := time.Now()
	res, err := forward(ctx)
	end := &auditv1.Event{SessionId: session, CorrelationId: corr, Tool: p.Name,
		DurationMs: float64(time.Since(began).Microseconds()) / 1000}
	result, _ := res.(*mcp.CallToolResult)
	var rejected proxy.Rejection
	switch {
	case errors.As(err, &rejected): // refused by the gateway itself (no upstream owns the tool)
		end.EventType, end.ErrorCode, end.ErrorMessage = auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, errorCode(err), errorText(err)
	case err != nil:
		end.EventType, end.ErrorCode, end.ErrorMessage = auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, errorCode(err), errorText(err)
	case result != nil && result.IsError:
		end.EventType, end.ErrorCode = auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, "tool_error"
	default:
		end.EventType = auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED
	}
	end.BytesOut = resultSize(ctx, result)
	if aerr := a.recordEnd(ctx, end); aerr != nil {
		// The call ran, but a reply the log does not hold must not reach the agent.
		return nil, aerr
	}
	if result != nil {
		if result.Meta == nil {
			result.Meta = mcp.Meta{}
		}
		result.Meta[MetaKey] = corr
	}
	return res, err
}

func (a *Audit) resourceRead(ctx context.Context, session string, p *mcp.ReadResourceParams, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	res, err := forward(ctx)
	e := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS, SessionId: session,
		CorrelationId: NewCorrelationID(), ResourceUri: p.URI, Operation: "read"}
	if err != nil {
		e.ErrorCode, e.ErrorMessage = errorCode(err), errorText(err)
	}
	if aerr := a.recordEnd(ctx, e); aerr != nil {
		return nil, aerr
	}
	return res, err
}

// errorText is an error's message as the audit service accepts it: the service refuses NUL in
// every text field, and an upstream's error may carry one; a call must not fail closed because
// its upstream said "\x00".
func errorText(err error) string { return strings.ReplaceAll(err.Error(), "\x00", "\uFFFD") }

// endEventTimeout bounds recording the end of a call.
const endEventTimeout = 10 * time.Second

// recordEnd records how a call ended. A call that timed out or was cancelled must still be
// recorded, so its context keeps the values (trace) but not the call's deadline.
func (a *Audit) recordEnd(ctx context.Context, e *auditv1.Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endEventTimeout)
	defer cancel()
	return a.record(ctx, e)
}

// record appends e and waits until it is durable. Failing closed, an error refuses the call.
func (a *Audit) record(ctx context.Context, e *auditv1.Event) error {
	err := a.appender.append(ctx, e)
	if err == nil {
		return nil
	}
	if a.failOpen {
		a.gaps.Add(ctx, 1)
		a.log.Warn("audit event not recorded (fail-open)", "type", e.GetEventType().String(), "correlation_id", e.GetCorrelationId(), "err", err)
		return nil
	}
	return &jsonrpc.Error{Code: CodeAuditUnavailable,
		Message: fmt.Sprintf("call refused: the audit service could not record it (%v); the gateway fails closed", err)}
}

// arguments turns raw JSON arguments into a Struct; what is not a JSON object is kept under
// "_raw", so nothing an agent sent is left out of the log.
func arguments(raw json.RawMessage) *structpb.Struct {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err == nil {
		if s, err := structpb.NewStruct(m); err == nil {
			return s
		}
	}
	s, _ := structpb.NewStruct(map[string]any{"_raw": string(raw)})
	return s
}

func errorCode(err error) string {
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) {
		return fmt.Sprintf("jsonrpc_%d", rpc.Code)
	}
	return "error"
}
