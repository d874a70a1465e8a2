package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
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
	sessions  sessionv1.SessionServiceClient
}

// NewBuiltins builds the built-in tools.
func NewBuiltins(audit auditv1.AuditServiceClient, telemetry telemetryv1.TelemetryServiceClient, sessions sessionv1.SessionServiceClient) *Builtins {
	return &Builtins{audit: audit, telemetry: telemetry, sessions: sessions}
}

// builtinOrder is the order in which the built-in tools are listed.
func builtinOrder() []string {
	return []string{"session", "values", "set_value", "transition", "audit_trail", "telemetry_summary"}
}

// builtin is a tool and its answer: a proto message, written as protojson with the proto
// field names, or a value for encoding/json.
type builtin struct {
	tool *mcp.Tool
	call func(ctx context.Context, session string, args map[string]any) (any, error)
}

func (b *Builtins) tools() map[string]builtin {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	object := func(props map[string]any, required ...string) map[string]any {
		schema := map[string]any{"type": "object"}
		if props != nil {
			schema["properties"] = props
		}
		if len(required) > 0 {
			schema["required"] = required
		}
		return schema
	}
	return map[string]builtin{
		BuiltinPrefix + "session": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "session", Annotations: readOnly,
				Description: "This session in the session service: conversation state, labels, times, version.",
				InputSchema: object(nil)},
			call: func(ctx context.Context, id string, _ map[string]any) (any, error) {
				return b.sessions.GetSession(ctx, &sessionv1.GetSessionRequest{Id: id})
			},
		},
		BuiltinPrefix + "values": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "values", Annotations: readOnly,
				Description: "This session's stored values with their versions (first 100; narrow with prefix).",
				InputSchema: object(map[string]any{"prefix": map[string]any{"type": "string"}})},
			call: func(ctx context.Context, id string, args map[string]any) (any, error) {
				prefix, _ := args["prefix"].(string)
				return b.sessions.ListValues(ctx, &sessionv1.ListValuesRequest{SessionId: id, Prefix: prefix, PageSize: 100})
			},
		},
		BuiltinPrefix + "set_value": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "set_value",
				Description: "Store a value in this session. expected_version makes it compare-and-set (0: no check, -1: must not exist).",
				InputSchema: object(map[string]any{"key": map[string]any{"type": "string"}, "value": map[string]any{},
					"expected_version": map[string]any{"type": "integer"}}, "key", "value")},
			call: b.setValue,
		},
		BuiltinPrefix + "transition": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "transition",
				Description: "Move this session's conversation state (INIT, INTENT_CAPTURED, DISCOVERY, OML_SYNTHESIS, VALIDATE_OML, REGENERATE, COMPILE, RUN, COMPLETE, ERROR); illegal moves are refused.",
				InputSchema: object(map[string]any{"to": map[string]any{"type": "string"}, "expected_from": map[string]any{"type": "string"}}, "to")},
			call: b.transition,
		},
		BuiltinPrefix + "audit_trail": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "audit_trail", Annotations: readOnly,
				Description: fmt.Sprintf("The last audit events of this session (at most %d), oldest first. With proof, each event "+
					"carries an inclusion proof against the newest signed checkpoint of the audit log, which is returned with the "+
					"verifier key, so the events can be checked offline.", maxTrail),
				InputSchema: map[string]any{"type": "object", "properties": map[string]any{
					"limit": map[string]any{"type": "integer", "minimum": 1, "maximum": maxTrail},
					"proof": map[string]any{"type": "boolean"}}}},
			call: b.auditTrail,
		},
		BuiltinPrefix + "telemetry_summary": {
			tool: &mcp.Tool{Name: BuiltinPrefix + "telemetry_summary", Annotations: readOnly,
				Description: "This session's tool calls: counts, errors, bytes and latency percentiles, per tool.",
				InputSchema: map[string]any{"type": "object"}},
			call: func(ctx context.Context, session string, _ map[string]any) (any, error) {
				return b.telemetry.GetSummary(ctx, &telemetryv1.GetSummaryRequest{SessionId: session})
			},
		},
	}
}

func (b *Builtins) setValue(ctx context.Context, id string, args map[string]any) (any, error) {
	key, _ := args["key"].(string)
	raw, present := args["value"]
	if key == "" || !present {
		return nil, fmt.Errorf("key (a string) and value are required")
	}
	value, err := structpb.NewValue(raw)
	if err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	var expected int64
	if v, ok := args["expected_version"]; ok {
		f, isNum := v.(float64)
		if !isNum || f != float64(int64(f)) {
			return nil, fmt.Errorf("expected_version must be a whole number")
		}
		expected = int64(f)
	}
	return b.sessions.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: id, Key: key, Value: value, ExpectedVersion: expected})
}

func (b *Builtins) transition(ctx context.Context, id string, args map[string]any) (any, error) {
	state := func(name string) (sessionv1.ChatState, error) {
		v, ok := sessionv1.ChatState_value["CHAT_STATE_"+strings.ToUpper(name)]
		if !ok || v == 0 {
			return 0, fmt.Errorf("unknown state %q", name)
		}
		return sessionv1.ChatState(v), nil
	}
	to, _ := args["to"].(string)
	req := &sessionv1.TransitionStateRequest{Id: id}
	var err error
	if req.To, err = state(to); err != nil {
		return nil, err
	}
	if from, ok := args["expected_from"].(string); ok && from != "" {
		if req.ExpectedFrom, err = state(from); err != nil {
			return nil, err
		}
	}
	return b.sessions.TransitionState(ctx, req)
}

func (b *Builtins) auditTrail(ctx context.Context, session string, args map[string]any) (any, error) {
	limit := maxTrail
	if v, ok := args["limit"]; ok {
		f, isNum := v.(float64)
		if !isNum || f != float64(int(f)) || f < 1 || f > maxTrail {
			return nil, fmt.Errorf("limit must be a whole number from 1 to %d", maxTrail)
		}
		limit = int(f)
	}
	var proof bool
	if v, ok := args["proof"]; ok {
		var isBool bool
		if proof, isBool = v.(bool); !isBool {
			return nil, fmt.Errorf("proof must be true or false")
		}
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
	if proof {
		return b.prove(ctx, events)
	}
	return &auditv1.ListEventsResponse{Events: events}, nil
}

// Around answers osiris_ tools and adds them to the last page of tools/list; everything else
// goes on.
func (b *Builtins) Around(ctx context.Context, call *wire.Call, forward wire.Forward) (*wire.Reply, error) {
	switch {
	case call.Method == "tools/list":
		reply, err := forward(ctx)
		if err != nil {
			return reply, err
		}
		return b.listed(reply), nil
	case call.Method != "tools/call" || !strings.HasPrefix(call.Name(), BuiltinPrefix):
		return forward(ctx)
	}
	t, known := b.tools()[call.Name()]
	if !known {
		return forward(ctx) // an upstream's own osiris_ tool
	}
	var args map[string]any
	if raw := call.Arguments(); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &args); err != nil {
			return toolError("arguments must be a JSON object")
		}
	}
	out, err := t.call(ctx, call.Session, args)
	if err != nil {
		return toolError(err.Error())
	}
	var text []byte
	if msg, ok := out.(proto.Message); ok {
		text, err = protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	} else {
		text, err = json.Marshal(out)
	}
	if err != nil {
		return nil, err
	}
	// Every answer is an object, which is what structuredContent must be.
	return result(toolResult{Content: []textContent{{Type: "text", Text: string(text)}}, StructuredContent: text})
}

// listed is reply with the built-in tools appended to its tools array, when it is the last
// page; every upstream tool keeps its bytes. A reply it cannot read passes unchanged.
func (b *Builtins) listed(reply *wire.Reply) *wire.Reply {
	if cursor, ok := wire.Member(reply.Result, "nextCursor"); ok && !bytes.Equal(cursor, []byte(`""`)) && !bytes.Equal(cursor, []byte("null")) {
		return reply
	}
	list, ok := wire.Member(reply.Result, "tools")
	if !ok {
		return reply
	}
	list = bytes.TrimSpace(list)
	if len(list) < 2 || list[0] != '[' || list[len(list)-1] != ']' {
		return reply
	}
	tools := b.tools()
	out := append([]byte(nil), list[:len(list)-1]...)
	sep := len(bytes.TrimSpace(list[1:len(list)-1])) > 0
	for _, name := range builtinOrder() {
		def, err := json.Marshal(tools[BuiltinPrefix+name].tool)
		if err != nil {
			return reply
		}
		if sep {
			out = append(out, ',')
		}
		out, sep = append(out, def...), true
	}
	res, err := wire.SetMember(reply.Result, "tools", append(out, ']'))
	if err != nil {
		return reply
	}
	return &wire.Reply{Result: res}
}

// toolResult is a tools/call result the gateway writes itself.
type toolResult struct {
	Content           []textContent   `json:"content"`
	StructuredContent json.RawMessage `json:"structuredContent,omitempty"`
	IsError           bool            `json:"isError,omitempty"`
}

type textContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func result(r toolResult) (*wire.Reply, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &wire.Reply{Result: b}, nil
}

func toolError(msg string) (*wire.Reply, error) {
	return result(toolResult{Content: []textContent{{Type: "text", Text: msg}}, IsError: true})
}
