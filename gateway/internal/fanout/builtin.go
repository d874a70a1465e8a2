package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
)

// BuiltinPrefix starts the names of the gateway's own tools.
const BuiltinPrefix = "osiris_"

// maxTrail bounds how many audit events osiris_audit_trail returns.
const maxTrail = 100

// Builtins are tools the gateway answers itself, so an agent can read what the state plane
// knows about its own session. They only ever see the calling session's data.
type Builtins struct {
	audit     auditv1.AuditServiceClient
	telemetry telemetryv1.TelemetryServiceClient
}

// NewBuiltins builds the built-in tools.
func NewBuiltins(audit auditv1.AuditServiceClient, telemetry telemetryv1.TelemetryServiceClient) *Builtins {
	return &Builtins{audit: audit, telemetry: telemetry}
}

type builtin struct {
	tool *mcp.Tool
	call func(ctx context.Context, session string, args map[string]any) (proto.Message, error)
}

func (b *Builtins) tools() map[string]builtin {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	return map[string]builtin{
		BuiltinPrefix + "audit_trail": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "audit_trail", Annotations: readOnly,
				Description: fmt.Sprintf("The last audit events of this session (at most %d), oldest first.", maxTrail),
				InputSchema: map[string]any{"type": "object", "properties": map[string]any{
					"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": maxTrail}}}},
			call: b.auditTrail,
		},
		BuiltinPrefix + "telemetry_summary": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "telemetry_summary", Annotations: readOnly,
				Description: "This session's tool calls: counts, errors, bytes and latency percentiles, per tool.",
				InputSchema: map[string]any{"type": "object"}},
			call: func(ctx context.Context, session string, _ map[string]any) (proto.Message, error) {
				return b.telemetry.GetSummary(ctx, &telemetryv1.GetSummaryRequest{SessionId: session})
			},
		},
	}
}

func (b *Builtins) auditTrail(ctx context.Context, session string, args map[string]any) (proto.Message, error) {
	limit := maxTrail
	if v, ok := args["limit"]; ok {
		f, isNum := v.(float64)
		if !isNum || f != float64(int(f)) || f < 1 || f > maxTrail {
			return nil, fmt.Errorf("limit must be a whole number from 1 to %d", maxTrail)
		}
		limit = int(f)
	}
	// Page through to the end and keep the last limit events: the trail's tail is what an
	// agent wants, and one session's log is small.
	var events []*auditv1.Event
	req := &auditv1.ListEventsRequest{SessionId: session, PageSize: 1000}
	for {
		resp, err := b.audit.ListEvents(ctx, req)
		if err != nil {
			return nil, err
		}
		events = append(events, resp.GetEvents()...)
		if len(events) > limit {
			events = events[len(events)-limit:]
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	return &auditv1.ListEventsResponse{Events: events}, nil
}

// Around answers osiris_ tools and adds them to tools/list; everything else goes on.
func (b *Builtins) Around(ctx context.Context, ss *mcp.ServerSession, method string, req mcp.Request, forward func(context.Context) (mcp.Result, error)) (mcp.Result, error) {
	tools := b.tools()
	if method == "tools/list" {
		res, err := forward(ctx)
		if list, ok := res.(*mcp.ListToolsResult); ok && err == nil && list.NextCursor == "" {
			for _, name := range []string{BuiltinPrefix + "audit_trail", BuiltinPrefix + "telemetry_summary"} {
				list.Tools = append(list.Tools, tools[name].tool)
			}
		}
		return res, err
	}
	p, ok := req.GetParams().(*mcp.CallToolParamsRaw)
	if !ok || p == nil || !strings.HasPrefix(p.Name, BuiltinPrefix) {
		return forward(ctx)
	}
	t, known := tools[p.Name]
	if !known {
		return forward(ctx) // an upstream's own osiris_ tool
	}
	var args map[string]any
	if len(p.Arguments) > 0 {
		if err := json.Unmarshal(p.Arguments, &args); err != nil {
			return toolError("arguments must be a JSON object"), nil
		}
	}
	msg, err := t.call(ctx, ss.ID(), args)
	if err != nil {
		return toolError(err.Error()), nil
	}
	text, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var structured any
	json.Unmarshal(text, &structured)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(text)}}, StructuredContent: structured}, nil
}

func toolError(msg string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: msg}}}
}
