package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestTaggedBodyTagsRequestsAndNotificationsOnly(t *testing.T) {
	big := `{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"` + strings.Repeat("x", maxTaggedEvent) + `"}}`
	cases := []struct {
		name, in, want string
	}{
		{"notification",
			"event: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"level\":\"info\",\"data\":\"hi\"}}\n\n",
			"event: message\nid: 7\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"_meta\":{\"io.osiris/origin\":\"42\"},\"data\":\"hi\",\"level\":\"info\"}}\n\n"},
		{"request keeps its own _meta values verbatim",
			"data: {\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"sampling/createMessage\",\"params\":{\"_meta\":{\"progressToken\":12345678901234567890}}}\n\n",
			"data: {\"id\":3,\"jsonrpc\":\"2.0\",\"method\":\"sampling/createMessage\",\"params\":{\"_meta\":{\"io.osiris/origin\":\"42\",\"progressToken\":12345678901234567890}}}\n\n"},
		{"no params",
			"data: {\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"roots/list\"}\n\n",
			"data: {\"id\":4,\"jsonrpc\":\"2.0\",\"method\":\"roots/list\",\"params\":{\"_meta\":{\"io.osiris/origin\":\"42\"}}}\n\n"},
		{"data split over lines, CRLF",
			"data: {\"jsonrpc\":\"2.0\",\r\ndata: \"method\":\"notifications/message\",\"params\":{}}\r\n\r\n",
			"data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{\"_meta\":{\"io.osiris/origin\":\"42\"}}}\n\r\n"},
		{"response unchanged",
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"\\\"method\\\"\"}]}}\n\n",
			"event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"\\\"method\\\"\"}]}}\n\n"},
		{"comments and keep-alives unchanged", ": ping\n\n\n", ": ping\n\n\n"},
		{"not JSON unchanged", "data: \"method\" nonsense\n\n", "data: \"method\" nonsense\n\n"},
		{"unterminated last event unchanged", "data: {\"method\":\"x\"}", "data: {\"method\":\"x\"}"},
		{"too big to tag: unchanged", "data: " + big + "\n\n", "data: " + big + "\n\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := &taggedBody{src: bufio.NewReader(strings.NewReader(c.in)), closer: io.NopCloser(nil), tag: "42"}
			got, err := io.ReadAll(iotest{b})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Fatalf("got\n%.300q\nwant\n%.300q", got, c.want)
			}
		})
	}
}

// iotest reads in small pieces, as a slow network would deliver.
type iotest struct{ r io.Reader }

func (r iotest) Read(p []byte) (int, error) { return r.r.Read(p[:min(len(p), 7)]) }

func TestTakeOriginRemovesTheTag(t *testing.T) {
	p := &mcp.LoggingMessageParams{Meta: mcp.Meta{originKey: "9"}}
	if id, ok := takeOrigin(p); !ok || id != 9 || p.Meta != nil {
		t.Fatalf("takeOrigin = %d, %v; meta left %v", id, ok, p.Meta)
	}
	p = &mcp.LoggingMessageParams{Meta: mcp.Meta{originKey: "9", "keep": 1}}
	if _, ok := takeOrigin(p); !ok || len(p.Meta) != 1 || p.Meta["keep"] != 1 {
		t.Fatalf("the upstream's own _meta must stay: %v", p.Meta)
	}
	if _, ok := takeOrigin(&mcp.LoggingMessageParams{}); ok {
		t.Fatal("untagged params reported a tag")
	}
}

type chattyArgs struct {
	Tag string `json:"tag"`
}

// chattyUpstream has a tool that waits until `calls` calls are in flight, then logs its tag
// and asks the client to sample a message holding its tag, and returns what it got.
func chattyUpstream(t *testing.T, calls int) string {
	t.Helper()
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	s := mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "chatty"}, func(ctx context.Context, req *mcp.CallToolRequest, a chattyArgs) (*mcp.CallToolResult, any, error) {
		mu.Lock()
		if arrived++; arrived == calls {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: a.Tag}); err != nil {
			return nil, nil, err
		}
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: a.Tag}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Tag + "|" + res.Content.(*mcp.TextContent).Text}}}, nil, nil
	})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil))
	t.Cleanup(srv.Close)
	return srv.URL
}

// One agent has several calls in flight at once; each call's log line and sampling request
// must come back on that call's own stream (the agent answers sampling on the stream it
// arrived on, echoing it). The agent here speaks raw streamable HTTP, because SDK clients
// merge their streams and could not tell.
func TestConcurrentCallsGetTheirOwnLogsAndSampling(t *testing.T) {
	const calls = 6
	_, url := gateway(t, chattyUpstream(t, calls))
	a := &rawAgent{t: t, url: url}
	a.post(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"raw","version":"1"}}}`, nil)
	a.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil)
	a.post(`{"jsonrpc":"2.0","id":2,"method":"logging/setLevel","params":{"level":"debug"}}`, nil)
	defer a.delete()

	var wg sync.WaitGroup
	for k := range calls {
		tag := fmt.Sprintf("call-%d", k)
		wg.Go(func() {
			var logs, samples int
			var result string
			a.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"chatty","arguments":{"tag":%q}}}`, 100+k, tag),
				func(msg map[string]any) {
					params, _ := msg["params"].(map[string]any)
					if meta, _ := params["_meta"].(map[string]any); meta[originKey] != nil {
						t.Errorf("%s: the origin tag reached the agent: %v", tag, msg)
					}
					switch msg["method"] {
					case "notifications/message":
						logs++
						if params["data"] != tag {
							t.Errorf("%s: got the log line of %v", tag, params["data"])
						}
					case "sampling/createMessage":
						samples++
						text, _ := params["messages"].([]any)[0].(map[string]any)["content"].(map[string]any)["text"].(string)
						if text != tag {
							t.Errorf("%s: got the sampling request of %s", tag, text)
						}
						id, _ := json.Marshal(msg["id"])
						a.post(fmt.Sprintf(`{"jsonrpc":"2.0","id":%s,"result":{"role":"assistant","model":"m","content":{"type":"text","text":%q}}}`, id, text+"!"), nil)
					case nil:
						if logs == 0 {
							t.Errorf("%s: the result came before the call's log line", tag)
						}
						b, _ := json.Marshal(msg["result"])
						result = string(b)
					}
				})
			if samples != 1 || !strings.Contains(result, tag+"|"+tag+"!") {
				t.Errorf("%s: %d sampling requests on its stream, result %s", tag, samples, result)
			}
		})
	}
	wg.Wait()
}

// rawAgent is an MCP client over plain HTTP that sees which stream each message comes on.
type rawAgent struct {
	t       *testing.T
	url     string
	session string
}

// post sends one JSON-RPC message and hands every message of the reply's stream to each.
func (a *rawAgent) post(body string, each func(map[string]any)) {
	req, _ := http.NewRequest(http.MethodPost, a.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	if a.session != "" {
		req.Header.Set("Mcp-Session-Id", a.session)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		a.t.Errorf("POST %.60s: %v", body, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		a.t.Errorf("POST %.60s: %s %s", body, resp.Status, b)
		return
	}
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		a.session = id
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := bytes.CutPrefix(sc.Bytes(), []byte("data: "))
		if !ok {
			continue
		}
		var msg map[string]any
		if err := json.Unmarshal(data, &msg); err != nil {
			a.t.Errorf("bad message %s: %v", data, err)
			return
		}
		if each != nil {
			each(msg)
		}
		if msg["method"] == nil {
			return // the response ends the stream
		}
	}
}

func (a *rawAgent) delete() {
	req, _ := http.NewRequest(http.MethodDelete, a.url, nil)
	req.Header.Set("Mcp-Session-Id", a.session)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}
