package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

const (
	// maxIdleConnsPerHost is how many idle connections a session's own client keeps to
	// one upstream: every session's calls are POSTs to the same host, and net/http's default
	// of 2 would make 32 concurrent sessions open and close connections all the time.
	maxIdleConnsPerHost = 256
	// closeTimeout bounds the DELETE that Close sends: a server that does not answer must not
	// hold the gateway's shutdown.
	closeTimeout = 5 * time.Second
	// maxErrorBody bounds how much of a refusal's body is read to explain it.
	maxErrorBody = 4 << 10
	// drainTimeout and drainBytes bound reading a call's stream past its response, which
	// lets the connection be reused; a server that keeps the stream open loses it instead.
	drainTimeout = time.Second
	drainBytes   = 64 << 10
)

const (
	headerSession  = "Mcp-Session-Id"
	headerVersion  = "Mcp-Protocol-Version"
	headerLastID   = "Last-Event-ID"
	mediaJSON      = "application/json"
	mediaSSE       = "text/event-stream"
	acceptPostBody = mediaJSON + ", " + mediaSSE
)

// ownClient is the client of a session configured without one: a pool of its own, closed
// with the session. The gateway passes one client to every session (resolve.go), so that its
// sessions share one pool.
func ownClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no bound across hosts; each host has its own
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	return &http.Client{Transport: t}
}

// httpConn is a session over the streamable HTTP transport (MCP 2025-11-25). Each call is a
// POST whose response stream is read by the calling goroutine, so what the server sends on
// it is handled with the call's context; the standalone GET stream carries the rest.
type httpConn struct {
	s      *Session
	url    string
	client *http.Client
	owned  bool // client is the session's own: its idle connections close with it
	header http.Header

	mu        sync.Mutex
	sessionID string // from the initialize response; "" for a server without sessions
	version   string // protocolVersion of the initialize result
	listening bool   // the standalone stream was started
}

// urlName is how errors and logs name an upstream URL: without its password and query,
// which may hold credentials.
func urlName(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("upstream: HTTP.URL is not an http or https URL")
	}
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	return u.Redacted(), nil
}

func newHTTP(s *Session, cfg *HTTP) (*httpConn, error) {
	h := &httpConn{s: s, url: cfg.URL, client: cfg.Client, header: cfg.Header}
	if h.client == nil {
		h.client, h.owned = ownClient(), true
	}
	return h, nil
}

// request is an HTTP request to the upstream with the session's headers; carried says
// whether it carries a session id (a 404 then means the session is gone).
func (h *httpConn) request(ctx context.Context, method string, body []byte) (req *http.Request, carried bool, err error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err = http.NewRequestWithContext(ctx, method, h.url, r)
	if err != nil {
		return nil, false, err
	}
	for k, v := range h.header {
		req.Header[k] = slices.Clone(v)
	}
	h.mu.Lock()
	sid, version := h.sessionID, h.version
	h.mu.Unlock()
	if sid != "" {
		req.Header.Set(headerSession, sid)
	}
	if version != "" {
		req.Header.Set(headerVersion, version)
	}
	return req, sid != "", nil
}

// post sends one message and returns a 2xx response.
func (h *httpConn) post(ctx context.Context, msg jsonrpc.Message, what string) (*http.Response, error) {
	body, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %s: %w", h.s.name, what, err)
	}
	req, carried, err := h.request(ctx, http.MethodPost, body)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %s: %w", h.s.name, what, err)
	}
	req.Header.Set("Content-Type", mediaJSON)
	req.Header.Set("Accept", acceptPostBody)
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %s: %w", h.s.name, what, err)
	}
	if err := h.check(resp, what, carried); err != nil {
		return nil, err
	}
	return resp, nil
}

// check turns a refusal into an error (and closes its body): a JSON-RPC error in the body
// is wrapped, so the caller can pass it on; a 404 to a request that carried the session id
// ends the session.
func (h *httpConn) check(resp *http.Response, what string, carried bool) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound && carried {
		err := fmt.Errorf("upstream %s: %w: %s answered 404 Not Found for the session", h.s.name, ErrSessionLost, what)
		h.s.end(err)
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var rpc struct {
		Error *jsonrpc.Error `json:"error"`
	}
	if json.Unmarshal(body, &rpc) == nil && rpc.Error != nil {
		return fmt.Errorf("upstream %s: %s: HTTP %s: %w", h.s.name, what, resp.Status, rpc.Error)
	}
	return fmt.Errorf("upstream %s: %s: HTTP %s: %q", h.s.name, what, resp.Status, bytes.TrimSpace(body))
}

func (h *httpConn) call(ctx context.Context, req *jsonrpc.Request) (*jsonrpc.Response, error) {
	what := "POST " + req.Method
	ctx, stop := h.s.scope(ctx)
	resp, err := h.post(ctx, req, what)
	if err != nil {
		stop()
		return nil, err
	}
	if req.Method == methodInitialize {
		if err := h.setSession(resp.Header.Get(headerSession)); err != nil {
			resp.Body.Close()
			stop()
			return nil, err
		}
	}
	var r *jsonrpc.Response
	switch media(resp) {
	case mediaJSON:
		r, err = h.readJSON(resp, req.ID, what)
		stop()
	case mediaSSE:
		r, err = h.readCall(ctx, stop, resp, req.ID, what)
	default:
		resp.Body.Close()
		stop()
		err = fmt.Errorf("upstream %s: %s: the response is %q, neither %s nor %s",
			h.s.name, what, resp.Header.Get("Content-Type"), mediaJSON, mediaSSE)
	}
	if err == nil && req.Method == methodInitialize && r.Error == nil {
		var res struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(r.Result, &res) // an initialize result without it fails in the proxy
		h.mu.Lock()
		h.version = res.ProtocolVersion
		h.mu.Unlock()
	}
	return r, err
}

func (h *httpConn) setSession(sid string) error {
	for _, c := range []byte(sid) {
		if c < 0x21 || c > 0x7e {
			return fmt.Errorf("upstream %s: initialize: the %s header is not visible ASCII", h.s.name, headerSession)
		}
	}
	h.mu.Lock()
	h.sessionID = sid
	h.mu.Unlock()
	return nil
}

func (h *httpConn) readJSON(resp *http.Response, id jsonrpc.ID, what string) (*jsonrpc.Response, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, h.s.max+1))
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %s: reading the response: %w", h.s.name, what, err)
	}
	if int64(len(body)) > h.s.max {
		return nil, fmt.Errorf("upstream %s: %s: the response is larger than %d bytes (MaxMessageBytes)", h.s.name, what, h.s.max)
	}
	msg, err := decodeMessage(body)
	if err != nil {
		return nil, fmt.Errorf("upstream %s: %s: the response is not JSON-RPC: %w", h.s.name, what, err)
	}
	r, ok := msg.(*jsonrpc.Response)
	if !ok || r.ID != id {
		return nil, fmt.Errorf("upstream %s: %s: the body is not the response to request %v", h.s.name, what, id.Raw())
	}
	return r, nil
}

// send posts a notification or an answer; the server accepts it with 202 (some with 200).
func (h *httpConn) send(ctx context.Context, msg jsonrpc.Message) error {
	what := "POST the answer to a request"
	req, isReq := msg.(*jsonrpc.Request)
	if isReq {
		what = "POST " + req.Method
	}
	resp, err := h.post(ctx, msg, what)
	if err != nil {
		return err
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxErrorBody)
	resp.Body.Close()
	return nil
}

// listenOpenWait bounds how long Listen waits for the standalone stream to be answered.
const listenOpenWait = 5 * time.Second

// listen opens the standalone stream once, and waits until the server has answered it.
func (h *httpConn) openListen(ctx context.Context) {
	h.mu.Lock()
	start := !h.listening
	h.listening = true
	h.mu.Unlock()
	if !start {
		return
	}
	opened := make(chan struct{})
	if !h.s.spawn(func() { h.listen(opened) }) {
		return
	}
	t := time.NewTimer(listenOpenWait)
	defer t.Stop()
	select {
	case <-opened:
	case <-ctx.Done():
	case <-t.C:
	}
}

// close deletes the session on the server; a server that does not allow it answers 405.
func (h *httpConn) close() error {
	if h.owned {
		defer h.client.CloseIdleConnections()
	}
	h.mu.Lock()
	sid := h.sessionID
	h.mu.Unlock()
	if sid == "" || errors.Is(h.s.Err(), ErrSessionLost) {
		return nil
	}
	ctx, stop := context.WithTimeout(context.WithoutCancel(h.s.ctx), closeTimeout)
	defer stop()
	req, _, err := h.request(ctx, http.MethodDelete, nil)
	if err != nil {
		return fmt.Errorf("upstream %s: DELETE: %w", h.s.name, err)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream %s: DELETE: %w", h.s.name, err)
	}
	_, _ = io.CopyN(io.Discard, resp.Body, maxErrorBody)
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300,
		resp.StatusCode == http.StatusMethodNotAllowed, resp.StatusCode == http.StatusNotFound:
		return nil
	}
	return fmt.Errorf("upstream %s: DELETE: HTTP %s", h.s.name, resp.Status)
}

func media(resp *http.Response) string {
	m, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return m
}
