package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

const (
	// maxResumes bounds how many times in a row a call's response stream is resumed (GET
	// with Last-Event-ID) without the server sending a new event.
	maxResumes = 5
	// defaultRetry is the wait before a stream is resumed or reopened when the server set no
	// `retry:`.
	defaultRetry = time.Second
	// maxListenBackoff caps the wait between attempts to reopen the standalone stream; it
	// doubles from defaultRetry after each attempt that brought no event.
	maxListenBackoff = 30 * time.Second
)

// cursor is where a stream stands: the last event id seen and the server's retry delay.
type cursor struct {
	lastID string
	retry  time.Duration
}

// readCall reads a call's response stream until its response, resuming it when the server
// ends it early after events with ids. Everything else on the stream goes to the session
// with ctx, the call's context. stop ends ctx; it is called once the stream is done with.
func (h *httpConn) readCall(ctx context.Context, stop context.CancelFunc, resp *http.Response, id jsonrpc.ID, what string) (*jsonrpc.Response, error) {
	var cur cursor
	resumes := 0
	for {
		r, progressed, err := h.consume(ctx, resp.Body, &id, &cur, what)
		if r != nil {
			h.release(resp.Body, stop)
			return r, nil
		}
		resp.Body.Close()
		if err == nil && ctx.Err() != nil {
			err = ctx.Err()
		}
		if err == nil && cur.lastID == "" {
			err = fmt.Errorf("upstream %s: %s: the response stream ended before the response, without an event id to resume it from", h.s.name, what)
		}
		if progressed {
			resumes = 0
		}
		if resumes++; err == nil && resumes > maxResumes {
			err = fmt.Errorf("upstream %s: %s: the response stream was resumed %d times without a new event", h.s.name, what, maxResumes)
		}
		if err == nil {
			resp, err = h.resume(ctx, cur, what)
		}
		if err != nil {
			stop()
			return nil, err
		}
	}
}

// resume reopens a call's stream after the server's delay: GET with Last-Event-ID. A
// connection that fails is an empty stream, tried again up to maxResumes.
func (h *httpConn) resume(ctx context.Context, cur cursor, what string) (*http.Response, error) {
	if !sleep(ctx, orDefault(cur.retry, defaultRetry)) {
		return nil, ctx.Err()
	}
	what += " (resumed with GET)"
	resp, carried, err := h.get(ctx, cur.lastID, what)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		h.s.log.Debug("upstream: resuming a response stream", "err", err)
		return &http.Response{Body: http.NoBody}, nil
	}
	if err := h.check(resp, what, carried); err != nil {
		return nil, err
	}
	if m := media(resp); m != mediaSSE {
		resp.Body.Close()
		return nil, fmt.Errorf("upstream %s: %s: the response is %q, not %s", h.s.name, what, m, mediaSSE)
	}
	return resp, nil
}

// consume hands the messages of one SSE stream to the session with ctx until the response
// to id (when id is set) arrives or the stream ends. progressed says whether an event id
// was seen. An error means the stream cannot be used (a call stream only: on the standalone
// stream, a bad event is logged and skipped).
func (h *httpConn) consume(ctx context.Context, body io.Reader, id *jsonrpc.ID, cur *cursor, what string) (resp *jsonrpc.Response, progressed bool, err error) {
	events := newSSEReader(body, h.s.max)
	for {
		ev, err := events.next()
		if err != nil { // the end, or a broken connection: both may be resumed
			return nil, progressed, nil
		}
		if ev.hasID {
			cur.lastID, progressed = ev.id, true
		}
		if ev.retry > 0 {
			cur.retry = ev.retry
		}
		if ev.tooLarge {
			err = fmt.Errorf("upstream %s: %s: an event of more than %d bytes (MaxMessageBytes) was refused", h.s.name, what, h.s.max)
		} else if len(ev.data) == 0 || (ev.name != "" && ev.name != "message") {
			continue // a priming event (an id alone), or one MCP does not define
		}
		var msg jsonrpc.Message
		if err == nil {
			if msg, err = decodeMessage(ev.data); err != nil {
				err = fmt.Errorf("upstream %s: %s: an event is not JSON-RPC: %w", h.s.name, what, err)
			}
		}
		if err != nil {
			if id != nil { // it may have been the response: the call cannot end well
				return nil, progressed, err
			}
			h.s.log.Warn("upstream: event dropped", "err", err)
			continue
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			h.s.deliver(ctx, m)
		case *jsonrpc.Response:
			if id != nil && m.ID == *id {
				return m, progressed, nil
			}
			h.s.log.Debug("upstream: response to another request dropped", "id", m.ID.Raw())
		}
	}
}

// release reads what is left of a call's stream after its response (a server ends it
// there), so the connection goes back to the pool, then ends the call's context.
func (h *httpConn) release(body io.ReadCloser, stop context.CancelFunc) {
	drain := func() {
		t := time.AfterFunc(drainTimeout, func() { body.Close() })
		_, _ = io.CopyN(io.Discard, body, drainBytes)
		t.Stop()
		body.Close()
		stop()
	}
	if !h.s.spawn(drain) {
		body.Close()
		stop()
	}
}

// get opens a stream: the standalone one, or a call's resumed after lastID.
func (h *httpConn) get(ctx context.Context, lastID, what string) (resp *http.Response, carried bool, err error) {
	req, carried, err := h.request(ctx, http.MethodGet, nil)
	if err != nil {
		return nil, false, fmt.Errorf("upstream %s: %s: %w", h.s.name, what, err)
	}
	req.Header.Set("Accept", mediaSSE)
	if lastID != "" {
		req.Header.Set(headerLastID, lastID)
	}
	resp, err = h.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("upstream %s: %s: %w", h.s.name, what, err)
	}
	return resp, carried, nil
}

// listen keeps the standalone stream open until the session ends: what the server sends
// outside any call arrives there and is handled with the session's context. A server
// without one answers 405; a stream that ends is reopened after the server's retry delay
// or a backoff, resuming after the last event id.
//
// opened is closed once the first GET has been answered (or has failed).
func (h *httpConn) listen(opened chan<- struct{}) {
	const what = "GET (the standalone stream)"
	signal := sync.OnceFunc(func() { close(opened) })
	defer signal()
	ctx := h.s.ctx
	var cur cursor
	backoff := defaultRetry
	for {
		progressed := false
		resp, carried, err := h.get(ctx, cur.lastID, what)
		signal()
		switch {
		case ctx.Err() != nil:
			if err == nil {
				resp.Body.Close()
			}
			return
		case err != nil:
			h.s.log.Debug("upstream: opening the standalone stream", "err", err)
		case resp.StatusCode == http.StatusMethodNotAllowed:
			resp.Body.Close()
			h.s.log.Debug("upstream: the server offers no standalone stream")
			return
		default:
			if err := h.check(resp, what, carried); err != nil {
				if ctx.Err() != nil || resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
					h.s.log.Warn("upstream: no standalone stream", "err", err)
					return
				}
				h.s.log.Debug("upstream: opening the standalone stream", "err", err)
				break
			}
			if m := media(resp); m != mediaSSE {
				resp.Body.Close()
				h.s.log.Warn("upstream: no standalone stream", "err", fmt.Errorf("%s answered %q, not %s", what, m, mediaSSE))
				return
			}
			_, progressed, _ = h.consume(ctx, resp.Body, nil, &cur, what)
			resp.Body.Close()
		}
		if progressed {
			backoff = defaultRetry
		}
		if !sleep(ctx, orDefault(cur.retry, backoff)) {
			return
		}
		if !progressed {
			backoff = min(2*backoff, maxListenBackoff)
		}
	}
}

// sleep waits d unless ctx ends first; it reports whether the wait was complete.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// orDefault is d, or def when d is not set.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
