package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// deliver hands what the server sent to the Handler: a notification at once, so notifications
// are handled in the order the server sent them and before any result that follows them; a
// request in a goroutine of its own, so it cannot hold up the stream, whose answer is sent back.
func (s *Session) deliver(ctx context.Context, req *jsonrpc.Request) {
	if !req.IsCall() {
		if s.handler.Notify != nil {
			s.handler.Notify(ctx, req.Method, req.Params)
		}
		return
	}
	s.spawn(func() {
		resp := s.answer(ctx, req)
		sctx, stop := context.WithTimeout(s.ctx, sendTimeout)
		defer stop()
		if err := s.t.send(sctx, resp); err != nil && s.ctx.Err() == nil {
			s.log.Warn("upstream: answering the server's request", "method", req.Method, "err", err)
		}
	})
}

// answer is the Handler's answer to a server's request: a *jsonrpc.Error it returns goes back
// as it is, any other error as an internal error with its message.
func (s *Session) answer(ctx context.Context, req *jsonrpc.Request) *jsonrpc.Response {
	if s.handler.Request == nil {
		return &jsonrpc.Response{ID: req.ID, Error: &jsonrpc.Error{
			Code: jsonrpc.CodeMethodNotFound, Message: "method not found: " + req.Method}}
	}
	res, err := s.handler.Request(ctx, req.Method, req.Params)
	if err != nil {
		var werr *jsonrpc.Error
		if !errors.As(err, &werr) {
			werr = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
		}
		return &jsonrpc.Response{ID: req.ID, Error: werr}
	}
	if len(res) == 0 { // a result must be there; the Handler said nothing more
		res = json.RawMessage("{}")
	}
	return &jsonrpc.Response{ID: req.ID, Result: res}
}

// tooLarge says why a message read whole is refused, or nil. A transport that can bound its
// reads (HTTP) refuses larger messages before reading them; over stdio the SDK's line bound
// applies first and this one after.
func (s *Session) tooLarge(msg jsonrpc.Message) error {
	var n int
	switch m := msg.(type) {
	case *jsonrpc.Request:
		n = len(m.Method) + len(m.Params)
	case *jsonrpc.Response:
		n = len(m.Result)
		var werr *jsonrpc.Error
		if errors.As(m.Error, &werr) {
			n += len(werr.Message) + len(werr.Data)
		}
	}
	if int64(n) > s.max {
		return fmt.Errorf("upstream %s: a message of more than %d bytes (MaxMessageBytes) was refused", s.name, s.max)
	}
	return nil
}
