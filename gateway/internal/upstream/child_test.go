package upstream

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// runChild runs the test binary as an upstream server over stdio: "sdk" is the Go SDK's
// server with the tools of newTestServer, "raw" answers with fixed bytes (rawChild), "die"
// exits at once with status 3.
func runChild(mode string) int {
	switch mode {
	case "sdk":
		server := newTestServer(true)
		if err := server.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, "sdk child:", err)
			return 1
		}
		return 0
	case "raw":
		return rawChild()
	case "die":
		fmt.Fprintln(os.Stderr, "cannot start: no configuration")
		return 3
	}
	return 2
}

// Raw results: members out of the usual order, unknown members, false and null, spaces.
const (
	rawInitResult = `{"protocolVersion":"2025-11-25","serverInfo":{"name":"raw","version":"1"},"capabilities":{},"x-unknown":null}`
	rawResult     = `{"zeta": {"b":1,"a":[true,false,null]},"content":[{"type":"text","text":"x","annotations":null}],"isError":false,"structuredContent":null}`
	rawError      = `{"code":-32042,"message":"refused \u00e9","data":{"b":[1,null],"a":false}}`
)

// rawChild is a stdio server answering with fixed bytes: initialize with rawInitResult,
// "echo" with its params as the result, "result" with rawResult, "fail" with rawError, and
// "big" with params.n bytes of text, "hang" never (it says so with a test/hanging notification carrying the id). Every
// notification it receives comes back as test/saw/<method> with the same params.
func rawChild() int {
	fmt.Fprintln(os.Stderr, "raw child ready")
	fmt.Fprintln(os.Stderr, strings.Repeat("e", 3*maxStderrLine))
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(nil, 32<<20)
	for in.Scan() {
		var msg struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(in.Bytes(), &msg); err != nil {
			fmt.Fprintln(os.Stderr, "raw child:", err)
			return 1
		}
		if msg.ID == nil {
			params := string(msg.Params)
			if params == "" {
				params = "{}"
			}
			fmt.Printf(`{"jsonrpc":"2.0","method":"test/saw/%s","params":%s}`+"\n", msg.Method, params)
			continue
		}
		switch msg.Method {
		case "initialize":
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", msg.ID, rawInitResult)
		case "echo":
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", msg.ID, msg.Params)
		case "result":
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":%s}`+"\n", msg.ID, rawResult)
		case "fail":
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"error":%s}`+"\n", msg.ID, rawError)
		case "big": // a result of params.n bytes of text
			var p struct{ N int }
			_ = json.Unmarshal(msg.Params, &p)
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"result":{"text":"%s"}}`+"\n", msg.ID, strings.Repeat("x", p.N))
		case "hang":
			fmt.Printf(`{"jsonrpc":"2.0","method":"test/hanging","params":{"id":%s}}`+"\n", msg.ID)
		default:
			fmt.Printf(`{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"no %s"}}`+"\n", msg.ID, msg.Method)
		}
	}
	return 0
}
