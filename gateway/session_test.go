package gateway_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/gateway"
	"github.com/osirisplane/osiris/services/session"
)

func startSession(t testing.TB) string {
	t.Helper()
	cfg := session.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := session.New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return svc.GRPCAddr()
}

func builtin(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return res.Content[0].(*mcp.TextContent).Text, res.IsError
}

// Every MCP session is a session in the session service, and the osiris_ tools act on the
// caller's own session only.
func TestEveryMCPSessionIsASessionWithItsOwnState(t *testing.T) {
	up, _ := upstream(t)
	a := startAudit(t)
	sessAddr := startSession(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.Upstreams, cfg.AuditAddr, cfg.SessionAddr = "127.0.0.1:0", []string{"up=" + up}, a.svc.GRPCAddr(), sessAddr
	g := run(t, cfg)
	conn, err := grpc.NewClient(sessAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sessions := sessionv1.NewSessionServiceClient(conn)

	mine, other := agent(t, g.URL()), agent(t, g.URL())
	defer other.Close()
	s, err := sessions.GetSession(context.Background(), &sessionv1.GetSessionRequest{Id: mine.ID()})
	if err != nil || s.GetLabels()["client"] != "agent" || s.GetState() != sessionv1.ChatState_CHAT_STATE_INIT {
		t.Fatalf("the agent's session in the session service: %v %v", s, err)
	}

	if out, isErr := builtin(t, mine, "osiris_set_value", map[string]any{"key": "discovery", "value": map[string]any{"tables": 3}}); isErr {
		t.Fatalf("set_value: %s", out)
	}
	if out, isErr := builtin(t, mine, "osiris_set_value", map[string]any{"key": "discovery", "value": 1, "expected_version": -1}); !isErr {
		t.Fatalf("a must-not-exist set over an existing key succeeded: %s", out)
	}
	out, _ := builtin(t, mine, "osiris_values", nil)
	if !strings.Contains(out, `"tables":3`) {
		t.Fatalf("values: %s", out)
	}
	if out, _ := builtin(t, other, "osiris_values", nil); strings.Contains(out, "discovery") {
		t.Fatalf("another agent sees this agent's values: %s", out)
	}
	if out, isErr := builtin(t, mine, "osiris_transition", map[string]any{"to": "intent_captured"}); isErr {
		t.Fatalf("legal transition refused: %s", out)
	}
	if out, isErr := builtin(t, mine, "osiris_transition", map[string]any{"to": "RUN"}); !isErr || !strings.Contains(out, "INTENT_CAPTURED") || !strings.Contains(out, "RUN") {
		t.Fatalf("illegal transition: %s (error %v), want a refusal naming both states", out, isErr)
	}
	out, _ = builtin(t, mine, "osiris_session", nil)
	var got struct {
		ID    string `json:"id"`
		State string `json:"state"`
	}
	json.Unmarshal([]byte(out), &got)
	if got.ID != mine.ID() || got.State != "CHAT_STATE_INTENT_CAPTURED" {
		t.Fatalf("osiris_session: %s", out)
	}

	mine.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s, err = sessions.GetSession(context.Background(), &sessionv1.GetSessionRequest{Id: got.ID})
		if err == nil && s.GetClosedAt() != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent disconnected but its session is not closed: %v %v", s, err)
		}
	}
}
