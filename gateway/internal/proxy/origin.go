package proxy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// What an upstream sends while serving a call (log lines, sampling and elicitation requests)
// must go back on that call's stream, also when one agent has several calls in flight. Over
// streamable HTTP the upstream sends them on the SSE response of the POST that carried the
// call, but the SDK's client merges every stream into one queue, so its handlers cannot tell
// which call a message belongs to. originTransport keeps that fact: it reads the SSE stream of
// each upstream POST (whose request carries the forwarding call's context) and tags every
// request and notification in it with the call's id under originKey in params._meta. relay
// takes the tag off again before the message goes to the agent.
//
// stdio has one stream for everything, so there nothing says which call a message belongs to;
// there, messages go to the newest call in flight (exact when calls do not overlap).

// originKey is the _meta key of the tag. It never reaches the agent.
const originKey = "io.osiris/origin"

// maxTaggedEvent bounds how much of one SSE event is buffered to tag it; a bigger event (only
// results are that big in practice) passes through unchanged, untagged.
const maxTaggedEvent = 1 << 20

type callIDKey struct{}

// withCall marks ctx as the context of the link's call id, for the upstream POST it causes.
func withCall(ctx context.Context, id uint64) context.Context {
	return context.WithValue(ctx, callIDKey{}, id)
}

// tagging gives an upstream transport the origin tags, when it is streamable HTTP.
func tagging(t mcp.Transport) (mcp.Transport, bool) {
	st, ok := t.(*mcp.StreamableClientTransport)
	if !ok {
		return t, false
	}
	client := http.Client{}
	if st.HTTPClient != nil {
		client = *st.HTTPClient
	}
	base := client.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	client.Transport = originTransport{base}
	tagged := *st
	tagged.HTTPClient = &client
	return &tagged, true
}

type originTransport struct{ base http.RoundTripper }

func (t originTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	id, ok := req.Context().Value(callIDKey{}).(uint64)
	if ok && req.Method == http.MethodPost && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		resp.Body = &taggedBody{src: bufio.NewReader(resp.Body), closer: resp.Body, tag: strconv.FormatUint(id, 10)}
	}
	return resp, nil
}

// taggedBody is an SSE stream with every JSON-RPC request and notification tagged.
type taggedBody struct {
	src    *bufio.Reader
	closer io.Closer
	tag    string
	event  []byte // lines of the event being read
	out    []byte // ready to be read
	pass   bool   // the current event is too big to tag: copy it through
	err    error
}

func (b *taggedBody) Read(p []byte) (int, error) {
	for len(b.out) == 0 && b.err == nil {
		b.fill()
	}
	if len(b.out) > 0 {
		n := copy(p, b.out)
		b.out = b.out[n:]
		return n, nil
	}
	return 0, b.err
}

func (b *taggedBody) Close() error { return b.closer.Close() }

// fill reads one line and moves whatever is complete to out.
func (b *taggedBody) fill() {
	line, err := b.src.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		err = nil // a long line: keep reading it
	}
	switch {
	case b.pass:
		b.out = append(b.out[:0], line...)
		b.pass = !isBlank(line)
	case isBlank(line) && err == nil:
		b.out = append(tagEvent(b.event, b.tag), line...)
		b.event = nil // out may share its array
	default:
		b.event = append(b.event, line...)
		if len(b.event) > maxTaggedEvent {
			b.out, b.event, b.pass = b.event, nil, true
		}
	}
	if err != nil {
		b.out = append(b.out, b.event...) // an unterminated last event passes as it is
		b.event = nil
		b.err = err
	}
}

func isBlank(line []byte) bool { return len(bytes.TrimRight(line, "\r\n")) == 0 && len(line) > 0 }

// tagEvent returns the event's lines with its data, if it is a JSON-RPC request or
// notification, tagged; everything else unchanged.
func tagEvent(event []byte, tag string) []byte {
	var other, data [][]byte
	for line := range bytes.Lines(event) {
		field, value, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(":"))
		if string(field) == "data" {
			data = append(data, bytes.TrimPrefix(value, []byte(" ")))
		} else {
			other = append(other, line)
		}
	}
	if data == nil {
		return event
	}
	tagged, ok := tagMessage(bytes.Join(data, []byte("\n")), tag)
	if !ok {
		return event
	}
	out := bytes.Join(other, nil)
	out = append(out, "data: "...)
	out = append(out, tagged...)
	return append(out, '\n')
}

// tagMessage adds the tag to params._meta of a JSON-RPC request or notification.
func tagMessage(data []byte, tag string) ([]byte, bool) {
	if !bytes.Contains(data, []byte(`"method"`)) {
		return nil, false // a response: nothing to route
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(data, &msg) != nil || msg["method"] == nil {
		return nil, false
	}
	params := map[string]json.RawMessage{}
	if raw := msg["params"]; len(raw) > 0 && string(raw) != "null" {
		if json.Unmarshal(raw, &params) != nil {
			return nil, false
		}
	}
	meta := map[string]json.RawMessage{} // raw: the upstream's own values pass unchanged
	if raw := params["_meta"]; len(raw) > 0 && string(raw) != "null" {
		if json.Unmarshal(raw, &meta) != nil {
			return nil, false
		}
	}
	meta[originKey] = json.RawMessage(strconv.Quote(tag))
	var err error
	if params["_meta"], err = json.Marshal(meta); err != nil {
		return nil, false
	}
	if msg["params"], err = json.Marshal(params); err != nil {
		return nil, false
	}
	out, err := json.Marshal(msg)
	return out, err == nil
}

// takeOrigin removes the tag from params and returns the call id it names.
func takeOrigin(params mcp.Params) (uint64, bool) {
	if params == nil {
		return 0, false
	}
	meta := params.GetMeta()
	tag, ok := meta[originKey].(string)
	if !ok {
		return 0, false
	}
	delete(meta, originKey)
	if len(meta) == 0 {
		params.SetMeta(nil)
	}
	id, err := strconv.ParseUint(tag, 10, 64)
	return id, err == nil
}
