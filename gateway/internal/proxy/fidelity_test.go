package proxy

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const fakeInit = `{"protocolVersion":"2025-11-25","capabilities":{"tools":{"listChanged":true},"tasks":{"requests":{"tools":{"call":{}}}},"x-unknown":{"a":null}},"serverInfo":{"name":"fake","version":"1"},"instructions":"hi"}`

// What the gateway does not act on passes as the peers wrote it, both ways: no field added
// (ttlMs, cacheScope), none dropped (required:false, hasMore:false, execution.taskSupport,
// the tasks capability, unknown fields), null stays null, absent stays absent, and methods
// the SDK's server does not know (tasks) are forwarded. Issue 12, defects 1, 7 and 8.
func TestWhatTheGatewayDoesNotActOnPassesByteForByte(t *testing.T) {
	results := map[string]string{
		"tools/list":               `{"tools":[{"name":"a","inputSchema":{"type":"object"},"execution":{"taskSupport":"required"},"x":null}]}`,
		"tools/call":               `{"content":[{"type":"text","text":"<b>&amp;</b>"}],"isError":false,"structuredContent":{"n":12345678901234567890,"f":1.50}}`,
		"prompts/list":             `{"prompts":[{"name":"p","arguments":[{"name":"x","required":false}]}]}`,
		"completion/complete":      `{"completion":{"values":[],"hasMore":false}}`,
		"resources/read":           `{"contents":[{"uri":"a://b","text":"t"}]}`,
		"resources/list":           `{"resources":[]}`,
		"resources/templates/list": `{"resourceTemplates":[]}`,
		"tasks/get":                `{"taskId":"t1","status":"working","createdAt":"2026-01-01T00:00:00Z","ttl":null}`,
	}
	up := newFakeUpstream(t, fakeInit, results)
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("up", up.serve())}})
	a := &rawAgent{t: t, url: url}
	defer a.close()
	if got := result(t, a.initialize("2025-11-25")); got != fakeInit {
		t.Errorf("initialize result\n got %s\nwant %s", got, fakeInit)
	}
	a.notify("notifications/initialized", "")
	for _, tc := range []struct{ method, params string }{
		{"tools/list", ""},
		{"tools/call", `{"name":"a"}`},
		{"tools/call", `{"name":"a","arguments":null,"zz":false}`},
		{"tools/call", `{"name":"a","arguments":{"n":12345678901234567890,"s":"<&>"}}`},
		{"prompts/list", `{}`},
		{"completion/complete", `{"ref":{"type":"ref/prompt","name":"p"},"argument":{"name":"x","value":""}}`},
		{"resources/read", `{"uri":"a://b"}`},
		{"resources/list", ""},
		{"resources/templates/list", ""},
		{"tasks/get", `{"taskId":"t1"}`},
	} {
		got := result(t, a.request(tc.method, tc.params))
		if got != results[tc.method] {
			t.Errorf("%s result\n got %s\nwant %s", tc.method, got, results[tc.method])
		}
		sent := up.got(tc.method)
		if last := sent[len(sent)-1]; last != tc.params {
			t.Errorf("%s params reached the upstream as %q, the agent sent %q", tc.method, last, tc.params)
		}
	}
}

// An upstream's notifications sent while it initializes reach the agent after the
// InitializeResult, once the agent has said it is initialized; and the upstream is told
// notifications/initialized when the agent says it, not before. Issue 12, defect 10.
func TestNotificationsDuringInitializeFollowTheResult(t *testing.T) {
	up := newFakeUpstream(t, fakeInit, nil)
	up.duringInit = []string{`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`}
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("up", up.serve())}})
	a := &rawAgent{t: t, url: url}
	defer a.close()
	msgs := a.initialize("2025-11-25")
	if len(msgs) != 1 {
		t.Fatalf("the initialize stream carried %d messages, want the result alone: %q", len(msgs), msgs)
	}
	if got := up.got("notifications/initialized"); len(got) != 0 {
		t.Fatalf("the upstream was told initialized before the agent said it")
	}
	stream := a.listen()
	a.notify("notifications/initialized", "")
	if got := receive(t, stream, 5*time.Second); !strings.Contains(got, "notifications/tools/list_changed") {
		t.Fatalf("agent's stream got %s, want the held list_changed", got)
	}
	if got := up.got("notifications/initialized"); len(got) != 1 {
		t.Fatalf("the upstream got notifications/initialized %d times, want once", len(got))
	}
}

// An agent's answer to an elicitation reaches the upstream as the agent gave it, byte for
// byte: the gateway does not fill in the schema's defaults, nor reorder the content. Issue
// 12, defect 5.
func TestElicitationAnswerReachesTheUpstreamUntouched(t *testing.T) {
	up := newFakeUpstream(t, fakeInit, nil)
	answered := make(chan string, 1)
	up.onCall["tools/call"] = func(w *sseWriter, msg rawMsg) {
		w.event(`{"jsonrpc":"2.0","id":"e1","method":"elicitation/create","params":{"message":"who?","requestedSchema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","default":42}}}}}`)
		select {
		case r := <-up.responses:
			answered <- string(r.Result)
		case <-time.After(5 * time.Second):
			answered <- "no answer"
		}
		w.result(msg.ID, `{"content":[]}`)
	}
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("up", up.serve())}})
	a := &rawAgent{t: t, url: url}
	defer a.close()
	a.initialize("2025-11-25")
	a.notify("notifications/initialized", "")
	var asked string
	a.post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"ask"}}`, func(req rawMsg) string {
		asked = string(req.Params)
		return `{"action":"accept","content":{"name":"x"}}`
	})
	if want := `{"message":"who?","requestedSchema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","default":42}}}}`; asked != want {
		t.Errorf("the agent was asked\n %s\nthe upstream asked\n %s", asked, want)
	}
	if got, want := <-answered, `{"action":"accept","content":{"name":"x"}}`; got != want {
		t.Fatalf("the upstream got the answer\n %s\nthe agent gave\n %s", got, want)
	}
}

// With several upstreams, logging/setLevel goes to those that offer logging and succeeds
// even if one does not. Issue 12, defect 6 (the Inspector could not connect).
func TestSetLevelGoesToTheUpstreamsThatLog(t *testing.T) {
	silent := newFakeUpstream(t, `{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"silent","version":"1"}}`, nil)
	logs := newFakeUpstream(t, `{"protocolVersion":"2025-11-25","capabilities":{"logging":{}},"serverInfo":{"name":"logs","version":"1"}}`,
		map[string]string{"logging/setLevel": `{}`})
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("silent", silent.serve()), httpUpstream("logs", logs.serve())}})
	a := &rawAgent{t: t, url: url}
	defer a.close()
	init := result(t, a.initialize("2025-11-25"))
	if !strings.Contains(init, `"logging":{}`) {
		t.Fatalf("logging not advertised: %s", init)
	}
	a.notify("notifications/initialized", "")
	if got := result(t, a.request("logging/setLevel", `{"level":"debug"}`)); got != "{}" {
		t.Fatalf("setLevel answered %s", got)
	}
	if n := len(silent.got("logging/setLevel")); n != 0 {
		t.Errorf("the upstream without logging got setLevel %d times", n)
	}
	if got := logs.got("logging/setLevel"); len(got) != 1 || got[0] != `{"level":"debug"}` {
		t.Errorf("the logging upstream got %q", got)
	}
}

// An initialize past --max-sessions is refused before the SDK creates a session for it, with
// the gateway's JSON-RPC code: nothing stays behind. Issue 12, Deliver 4.
func TestInitializeAtCapacityLeavesNothingBehind(t *testing.T) {
	up := newFakeUpstream(t, fakeInit, nil)
	p, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("up", up.serve())}, MaxSessions: 1})
	first := &rawAgent{t: t, url: url}
	defer first.close()
	first.initialize("2025-11-25")
	before := runtime.NumGoroutine()
	for range 50 {
		a := &rawAgent{t: t, url: url}
		msgs := a.initialize("2025-11-25")
		if len(msgs) != 1 || !strings.Contains(msgs[0], `"error":{"code":`+fmt.Sprint(CodeAtCapacity)) {
			t.Fatalf("initialize at capacity answered %q", msgs)
		}
		if a.session != "" {
			t.Fatalf("a refused initialize got session %s", a.session)
		}
	}
	if p.Sessions() != 1 {
		t.Fatalf("%d sessions, want 1", p.Sessions())
	}
	// 50 sessions kept would be 50 goroutines or more; allow for the runtime's own.
	if after := runtime.NumGoroutine(); after > before+10 {
		t.Fatalf("goroutines grew from %d to %d over 50 refused initializes", before, after)
	}
}

// An upstream that cannot be reached fails the agent's initialize with the gateway's code and
// a message naming it. Issue 12, defect 9 and Deliver 3.
func TestUnreachableUpstreamFailsInitializeClearly(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/mcp"
	l.Close()
	_, url := gatewayFor(t, Config{Upstreams: []Upstream{httpUpstream("gone", dead)}})
	c := mcp.NewClient(&mcp.Implementation{Name: "agent", Version: "1"}, nil)
	_, err = c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	rpc, ok := err.(*jsonrpc.Error)
	if !ok {
		if e := unwrapRPC(err); e != nil {
			rpc, ok = e, true
		}
	}
	if !ok || rpc.Code != CodeUpstreamUnavailable || !strings.Contains(rpc.Message, "upstream gone") {
		t.Fatalf("initialize error %v, want code %d naming upstream gone", err, CodeUpstreamUnavailable)
	}
}

func unwrapRPC(err error) *jsonrpc.Error {
	for err != nil {
		if rpc, ok := err.(*jsonrpc.Error); ok {
			return rpc
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return nil
		}
		err = u.Unwrap()
	}
	return nil
}
