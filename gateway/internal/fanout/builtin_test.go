package fanout

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// Every built-in tool's input schema is a valid JSON Schema object schema (a null
// "properties" once broke tools/list for conformance clients).
func TestBuiltinSchemasAreValid(t *testing.T) {
	tools := (&Builtins{}).tools()
	if len(tools) != len(builtinOrder()) {
		t.Fatalf("%d tools, %d listed", len(tools), len(builtinOrder()))
	}
	for _, name := range builtinOrder() {
		b, ok := tools[BuiltinPrefix+name]
		if !ok {
			t.Fatalf("%s listed but not defined", name)
		}
		raw, err := json.Marshal(b.tool.InputSchema)
		if err != nil {
			t.Fatal(err)
		}
		var s jsonschema.Schema
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Fatalf("%s: %s is not a schema: %v", name, raw, err)
		}
		if s.Type != "object" {
			t.Fatalf("%s: schema type %q, want object", name, s.Type)
		}
		if _, err := s.Resolve(nil); err != nil {
			t.Fatalf("%s: %s does not resolve: %v", name, raw, err)
		}
		var m map[string]any
		json.Unmarshal(raw, &m)
		if v, present := m["properties"]; present && v == nil {
			t.Fatalf("%s: properties is null", name)
		}
	}
}

// tools/list: the built-in tools follow the upstream's on the last page, spliced in, so every
// upstream tool keeps its bytes (unknown fields, null, order); a page with a next cursor is
// passed unchanged.
func TestBuiltinToolsAreSplicedIntoTheLastPage(t *testing.T) {
	b := NewBuiltins(nil, nil, nil)
	const upstreamTool = `{"name":"a","x-unknown":null, "inputSchema":{"type":"object"},"execution":{"taskSupport":"required"}}`
	for _, tc := range []struct{ upstream, prefix string }{
		{`{"tools":[` + upstreamTool + `],"_meta":{"k":false}}`, `{"tools":[` + upstreamTool + `,{"`},
		{`{"tools":[ ] }`, `{"tools":[ {"`},
		{`{"tools":[` + upstreamTool + `],"nextCursor":""}`, `{"tools":[` + upstreamTool + `,{"`},
	} {
		var calls int
		reply, err := b.Around(context.Background(), &wire.Call{Method: "tools/list", Session: "S"}, answer(tc.upstream, &calls))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(reply.Result), tc.prefix) {
			t.Fatalf("%s\nbecame\n%s", tc.upstream, reply.Result)
		}
		var list struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		}
		if err := json.Unmarshal(reply.Result, &list); err != nil {
			t.Fatalf("%s: %v", reply.Result, err)
		}
		last := list.Tools[len(list.Tools)-len(builtinOrder()):]
		for i, name := range builtinOrder() {
			if last[i].Name != BuiltinPrefix+name {
				t.Fatalf("tool %d is %q, want %s", i, last[i].Name, BuiltinPrefix+name)
			}
		}
	}
	const page = `{"tools":[` + upstreamTool + `],"nextCursor":"2"}`
	var calls int
	reply, err := b.Around(context.Background(), &wire.Call{Method: "tools/list", Session: "S"}, answer(page, &calls))
	if err != nil || string(reply.Result) != page {
		t.Fatalf("a page before the last: %s, %v", reply.Result, err)
	}
}

// A built-in tool is answered by the gateway for the calling session, never forwarded; bad
// arguments are a tool error, as the protocol says for tool-level failures.
func TestBuiltinCallIsAnsweredForTheCallingSession(t *testing.T) {
	f := newFakeSessions()
	b := NewBuiltins(nil, nil, f)
	var calls int
	reply, err := b.Around(context.Background(), toolCall("S-1", `{"name":"osiris_session"}`), answer(`{}`, &calls))
	if err != nil || calls != 0 {
		t.Fatalf("%v after %d forwards", err, calls)
	}
	var res struct {
		Content []struct {
			Type, Text string
		} `json:"content"`
		Structured map[string]any `json:"structuredContent"`
		IsError    bool           `json:"isError"`
	}
	if err := json.Unmarshal(reply.Result, &res); err != nil || res.IsError || res.Structured["id"] != "S-1" || len(res.Content) != 1 || res.Content[0].Type != "text" {
		t.Fatalf("result %s (%v)", reply.Result, err)
	}
	reply, err = b.Around(context.Background(), toolCall("S-1", `{"name":"osiris_values","arguments":[1]}`), answer(`{}`, &calls))
	if err != nil || calls != 0 || !reply.IsError() || reply.ErrorText() != "arguments must be a JSON object" {
		t.Fatalf("bad arguments: %s, %v", reply.Result, err)
	}
	if _, err := b.Around(context.Background(), toolCall("S-1", `{"name":"osiris_upstreams_own"}`), answer(`{}`, &calls)); err != nil || calls != 1 {
		t.Fatalf("an unknown osiris_ tool was not forwarded: %v", err)
	}
}
