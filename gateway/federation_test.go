package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/gateway"
)

// named is an upstream whose tool, prompt and resource say which upstream served them.
func named(t *testing.T, name string) string {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, &mcp.ServerOptions{Instructions: "I am " + name})
	mcp.AddTool(s, &mcp.Tool{Name: "who"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name}}}, nil, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: "hello from " + name}}}}, nil
	})
	uri := "test://" + name + "/doc"
	s.AddResource(&mcp.Resource{URI: uri, Name: "doc"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, Text: name}}}, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestSeveralUpstreamsArePrefixedAndRouted(t *testing.T) {
	a := startAudit(t)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.AuditAddr = "127.0.0.1:0", a.svc.GRPCAddr()
	cfg.Upstreams = []string{"mysql=" + named(t, "mysql"), "pg=" + named(t, "pg")}
	cfg.BuiltinTools = false // this test is about the upstreams' names
	g := run(t, cfg)
	cs := agent(t, g.URL())
	defer cs.Close()
	ctx := context.Background()

	if cs.InitializeResult().ServerInfo.Name != "osiris-gateway" || cs.InitializeResult().Instructions != "mysql: I am mysql\n\npg: I am pg" {
		t.Fatalf("initialize: %+v", cs.InitializeResult())
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	if !slices.Equal(names, []string{"mysql_who", "pg_who"}) {
		t.Fatalf("tools %v", names)
	}
	for _, up := range []string{"mysql", "pg"} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: up + "_who", Arguments: map[string]any{}})
		if err != nil || res.Content[0].(*mcp.TextContent).Text != up {
			t.Fatalf("%s_who: %v %v", up, res, err)
		}
		p, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: up + "_greet"})
		if err != nil || p.Messages[0].Content.(*mcp.TextContent).Text != "hello from "+up {
			t.Fatalf("%s_greet: %v %v", up, p, err)
		}
		r, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://" + up + "/doc"})
		if err != nil || r.Contents[0].Text != up {
			t.Fatalf("read %s: %v %v", up, r, err)
		}
	}
	resources, err := cs.ListResources(ctx, nil)
	if err != nil || len(resources.Resources) != 2 {
		t.Fatalf("resources: %v %v", resources, err)
	}

	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "who", Arguments: map[string]any{}})
	var rpc *jsonrpc.Error
	if !errors.As(err, &rpc) || rpc.Code != jsonrpc.CodeInvalidParams {
		t.Fatalf("unprefixed call: %v, want invalid params", err)
	}
	rejected, err := a.client.ListEvents(ctx, &auditv1.ListEventsRequest{EventType: auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED})
	if err != nil || len(rejected.GetEvents()) != 1 || rejected.GetEvents()[0].GetTool() != "who" {
		t.Fatalf("the refused call is audited as rejected: %v %v", rejected.GetEvents(), err)
	}
}

func TestUpstreamNamesAreValidated(t *testing.T) {
	for name, ups := range map[string][]string{
		"underscore": {"my_sql=http://h/mcp"},
		"twice":      {"a=http://h/mcp", "a=http://i/mcp"},
		"empty":      {"=http://h/mcp"},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := gateway.DefaultConfig()
			cfg.Upstreams = ups
			if err := cfg.Validate(); err == nil {
				t.Fatalf("%v accepted", ups)
			}
		})
	}
}

func TestConfigFileAddsUpstreams(t *testing.T) {
	a := startAudit(t)
	conf := filepath.Join(t.TempDir(), "gateway.json")
	os.WriteFile(conf, []byte(`{"upstreams": ["pg=`+named(t, "pg")+`"]}`), 0o600)
	cfg := gateway.DefaultConfig()
	cfg.HTTPAddr, cfg.AuditAddr, cfg.ConfigFile = "127.0.0.1:0", a.svc.GRPCAddr(), conf
	cfg.Upstreams = []string{"mysql=" + named(t, "mysql")}
	g := run(t, cfg)
	cs := agent(t, g.URL())
	defer cs.Close()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "pg_who", Arguments: map[string]any{}})
	if err != nil || res.Content[0].(*mcp.TextContent).Text != "pg" {
		t.Fatalf("the config file's upstream: %v %v", res, err)
	}
}
