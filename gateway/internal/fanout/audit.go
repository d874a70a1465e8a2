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
	"unicode"
	"unicode/utf8"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway/internal/proxy"
	"github.com/osirisplane/osiris/gateway/internal/wire"
	"github.com/osirisplane/osiris/platform/apierr"
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

// correlationKey carries the call's correlation id to the fan-outs inside the audit one.
type correlationKey struct{}

func withCorrelationID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, correlationKey{}, id)
}

// correlationID is the id the audit fan-out gave the call running in ctx, or "".
func correlationID(ctx context.Context) string {
	id, _ := ctx.Value(correlationKey{}).(string)
	return id
}

// Around is a wire.Around that audits tools/call and resources/read.
func (a *Audit) Around(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	switch call.Method {
	case "tools/call":
		return a.toolCall(ctx, call, forward)
	case "resources/read":
		return a.resourceRead(ctx, call, forward)
	}
	return forward(ctx)
}

func (a *Audit) toolCall(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	corr := NewCorrelationID()
	args := call.Arguments()
	start := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, SessionId: call.Session,
		CorrelationId: corr, Tool: call.Name(), Arguments: arguments(args), BytesIn: uint64(len(args))}
	if err := call.SetMeta(MetaKey, corr); err != nil {
		return nil, a.reject(ctx, start, "invalid_request", fmt.Sprintf("tools/call params: %v", err))
	}
	started, err := a.recordStart(ctx, start)
	if err != nil {
		return nil, err
	}
	ctx = withCorrelationID(ctx, corr) // telemetry, inside, records the same id
	began := time.Now()
	reply, err := forward(ctx)
	end := &auditv1.Event{SessionId: call.Session, CorrelationId: corr, Tool: start.Tool,
		DurationMs: float64(time.Since(began).Microseconds()) / 1000}
	var rejected proxy.Rejection
	switch {
	case errors.As(err, &rejected): // refused by the gateway itself (no upstream owns the tool)
		end.EventType, end.ErrorCode, end.ErrorMessage = auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, errorCode(err), errorText(err.Error())
	case err != nil:
		end.EventType, end.ErrorCode, end.ErrorMessage = auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, errorCode(err), errorText(err.Error())
	case failed(reply):
		end.EventType, end.ErrorCode, end.ErrorMessage = auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, "tool_error", errorText(reply.ErrorText())
	default:
		end.EventType = auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED
	}
	if reply != nil {
		end.BytesOut = uint64(len(reply.Result))
	}
	ended, aerr := a.recordEnd(ctx, end)
	if aerr != nil {
		// The call ran, but a reply the log does not hold must not reach the agent.
		return nil, aerr
	}
	if reply != nil {
		marked, merr := mark(reply, corr, started, ended)
		if merr != nil {
			// An upstream's result that is not a JSON object is passed on as it came.
			a.log.Warn("result not marked with its correlation id and receipts", "correlation_id", corr, "err", merr)
			return reply, err
		}
		reply = marked
	}
	return reply, err
}

func (a *Audit) resourceRead(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	reply, err := forward(ctx)
	e := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS, SessionId: call.Session,
		CorrelationId: NewCorrelationID(), ResourceUri: call.URI(), Operation: "read"}
	if err != nil {
		e.ErrorCode, e.ErrorMessage = errorCode(err), errorText(err.Error())
	}
	if _, aerr := a.recordEnd(ctx, e); aerr != nil {
		return nil, aerr
	}
	return reply, err
}

// errorText is an error's message as the audit service accepts it: the service refuses NUL in
// every text field and text over maxAuditMessageBytes, and an upstream's error may carry
// either; a call must not fail closed because its upstream said "\x00" or said too much.
func errorText(s string) string {
	return clipText(strings.ReplaceAll(s, "\x00", "\uFFFD"), maxAuditMessageBytes)
}

// maxAuditMessageBytes is the audit service's limit on an event's error_message.
const maxAuditMessageBytes = 64 << 10

// endEventTimeout bounds recording the end of a call.
const endEventTimeout = 10 * time.Second

// recordEnd records how a call ended. A call that timed out or was cancelled must still be
// recorded, so its context keeps the values (trace) but not the call's deadline.
func (a *Audit) recordEnd(ctx context.Context, e *auditv1.Event) (*auditv1.AppendResponse, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), endEventTimeout)
	defer cancel()
	return a.record(ctx, e)
}

// record appends e, waits until it is durable and returns its receipt: nil when e was not
// recorded and the gateway fails open. Failing closed, an error refuses the call.
func (a *Audit) record(ctx context.Context, e *auditv1.Event) (*auditv1.AppendResponse, error) {
	r, err := a.appender.append(ctx, e)
	return r, a.outcome(ctx, e, err)
}

// outcome is what a failed append means for the call: a refusal failing closed, a counted gap
// failing open.
func (a *Audit) outcome(ctx context.Context, e *auditv1.Event, err error) error {
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

// recordStart records that a call starts. The audit service refuses an event for what it
// carries (arguments over its size limit or nested too deep, a tool name too long or with
// control characters) and names the field; such a call is refused whether the gateway fails
// open or closed, since the service is up and the request is what it will not take, and the
// refusal is recorded as tool_call_rejected without the arguments, so a request refused for
// its size is in the log too.
func (a *Audit) recordStart(ctx context.Context, start *auditv1.Event) (*auditv1.AppendResponse, error) {
	r, err := a.appender.append(ctx, start)
	if err == nil || len(apierr.FieldViolations(err)) == 0 {
		return r, a.outcome(ctx, start, err)
	}
	why := status.Convert(err).Message()
	code := "invalid_request"
	if status.Code(err) == codes.ResourceExhausted {
		code = "request_too_large"
	}
	return nil, a.reject(ctx, start, code, "the audit service cannot record it as sent: "+why)
}

// reject records a call refused before it was forwarded as tool_call_rejected, without its
// arguments, and returns the refusal (invalid params) for the agent.
func (a *Audit) reject(ctx context.Context, start *auditv1.Event, code, why string) error {
	rejected := &auditv1.Event{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, SessionId: start.SessionId,
		CorrelationId: start.CorrelationId, Tool: nameText(start.Tool), BytesIn: start.BytesIn,
		ErrorCode: code, ErrorMessage: errorText(why)}
	if _, err := a.recordEnd(ctx, rejected); err != nil {
		return err
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "call refused: " + why}
}

// nameText is s as the audit service takes a name: at most 256 bytes of valid UTF-8 without
// control characters (each replaced by U+FFFD).
func nameText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	return clipText(s, 256)
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
