package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func mcpload(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errs bytes.Buffer
	code := run(context.Background(), args, &out, &errs)
	return code, out.String(), errs.String()
}

// Every flag is checked before anything is measured, with a message naming the flag.
func TestFlagsAreChecked(t *testing.T) {
	ok := "a=http://127.0.0.1:1/mcp"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--targets is required"},
		{[]string{"--targets", "a"}, "want NAME=URL"},
		{[]string{"--targets", "1a=http://h/mcp"}, "want NAME=URL"},
		{[]string{"--targets", "a=ftp://h/mcp"}, "want an http(s)://HOST/PATH URL"},
		{[]string{"--targets", "a=http:///mcp"}, "want an http(s)://HOST/PATH URL"},
		{[]string{"--targets", ok + "," + ok}, `"a" is named twice`},
		{[]string{"--targets", "a=http://h/,b=http://h/,c=http://h/,d=http://h/,e=http://h/,f=http://h/,g=http://h/,h=http://h/,i=http://h/"}, "at most 8, got 9"},
		{[]string{"--targets", ok, "--sessions", "0"}, "--sessions must be between 1 and 1024, got 0"},
		{[]string{"--targets", ok, "--sessions", "1025"}, "--sessions must be between 1 and 1024"},
		{[]string{"--targets", ok, "--duration", "10ms"}, "--duration must be between 100ms and 10m0s"},
		{[]string{"--targets", ok, "--duration", "11m"}, "--duration must be between 100ms and 10m0s"},
		{[]string{"--targets", ok, "--rounds", "0"}, "--rounds must be between 1 and 99, got 0"},
		{[]string{"--targets", ok, "--rounds", "100"}, "--rounds must be between 1 and 99"},
		{[]string{"--targets", ok, "--tool", ""}, "--tool must not be empty"},
		{[]string{"--targets", ok, "--args", "[1]"}, "want a JSON object"},
		{[]string{"--targets", ok, "--args", "null"}, "want a JSON object"},
		{[]string{"--targets", ok, "--args", "{"}, "want a JSON object"},
		{[]string{"--targets", ok, "--args", `{"a":"` + strings.Repeat("x", maxArgsBytes) + `"}`}, "--args is over the limit of 1048576 bytes"},
		{[]string{"--targets", ok, "--audit-floor", "127.0.0.1:1"}, "exclude each other"},
		{[]string{"--audit-floor", "127.0.0.1"}, "want HOST:PORT"},
		{[]string{"--targets", ok, "extra"}, "unexpected arguments"},
	} {
		code, _, errs := mcpload(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("mcpload %q: exit %d, %q; want exit 2 and %q", tc.args, code, errs, tc.want)
		}
	}
}

// server is an MCP server over streamable HTTP with one tool, "echo", that fails (isError)
// when asked to; it counts the calls it serves.
func server(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	type args struct {
		Fail bool `json:"fail,omitempty"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(_ context.Context, _ *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		calls.Add(1)
		return &mcp.CallToolResult{IsError: a.Fail, Content: []mcp.Content{&mcp.TextContent{Text: "ok"}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

// Each target is driven in every round and gets a row: its median round and its ratio to the
// first target.
func TestTargetsAreComparedInRounds(t *testing.T) {
	a, aCalls := server(t)
	b, bCalls := server(t)
	code, out, errs := mcpload(t, "--targets", "first="+a+",second="+b, "--sessions", "3", "--duration", "200ms", "--rounds", "2", "--tool", "echo")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "# tools/call echo; 3 sessions; median of 2 rounds of 200ms") {
		t.Fatalf("report:\n%s", out)
	}
	first, second := strings.Fields(lines[2]), strings.Fields(lines[3])
	if first[0] != "first" || first[5] != "1.000" || second[0] != "second" || first[4] != "0" || second[4] != "0" {
		t.Fatalf("report:\n%s", out)
	}
	if cpu, err := strconv.Atoi(first[6]); err != nil || cpu <= 0 {
		t.Fatalf("client CPU per call %q, want a positive number of microseconds:\n%s", first[6], out)
	}
	if aCalls.Load() == 0 || bCalls.Load() == 0 {
		t.Fatalf("calls served: %d and %d", aCalls.Load(), bCalls.Load())
	}
}

// A tool that answers isError, or a tool that is not there, fails the run: a measurement of
// an error path must not pass for one of the call.
func TestFailedCallsFailTheRun(t *testing.T) {
	a, _ := server(t)
	for _, args := range [][]string{{"--args", `{"fail":true}`}, {"--tool", "missing"}} {
		code, out, errs := mcpload(t, append([]string{"--targets", "a=" + a, "--sessions", "1", "--duration", "100ms", "--rounds", "1", "--tool", "echo"}, args...)...)
		if code != 1 || !strings.Contains(errs, "a: ") || !strings.Contains(errs, "calls failed") || !strings.Contains(out, "a ") {
			t.Fatalf("%q: exit %d, stdout %q, stderr %q; want exit 1 with the report and the failure", args, code, out, errs)
		}
	}
}

// An unreachable target stops the run before any round.
func TestUnreachableTargetIsNamed(t *testing.T) {
	a, _ := server(t)
	code, _, errs := mcpload(t, "--targets", "up="+a+",down=http://127.0.0.1:1/mcp", "--duration", "100ms", "--rounds", "1")
	if code != 1 || !strings.Contains(errs, "down: initialize") {
		t.Fatalf("exit %d, %q", code, errs)
	}
}

// The floor is two Appends per op, each stored in the audit log.
func TestAuditFloorAppendsTwoEventsPerOp(t *testing.T) {
	cfg := audit.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := audit.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	code, out, errs := mcpload(t, "--audit-floor", svc.GRPCAddr(), "--sessions", "1", "--duration", "200ms", "--rounds", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "# two audit Appends in sequence; 1 sessions") || strings.Fields(lines[2])[0] != "floor" {
		t.Fatalf("report:\n%s", out)
	}
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	list, err := auditv1.NewAuditServiceClient(conn).ListEvents(ctx, &auditv1.ListEventsRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ev := list.GetEvents()
	if len(ev) == 0 || len(ev)%2 != 0 || list.GetNextPageToken() != "" {
		t.Fatalf("%d events (more: %v), want a whole number of pairs", len(ev), list.GetNextPageToken() != "")
	}
	for i := 0; i < len(ev); i += 2 {
		if ev[i].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED || ev[i+1].GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED ||
			ev[i].GetCorrelationId() != ev[i+1].GetCorrelationId() {
			t.Fatalf("events %d and %d: %v, %v; want a started and a completed event of one call", i, i+1, ev[i], ev[i+1])
		}
	}
}
