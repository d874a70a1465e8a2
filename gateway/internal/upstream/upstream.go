package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Handler receives what the server sends to its client.
type Handler struct {
	// Request answers a server-to-client request (sampling/createMessage, elicitation/create,
	// roots/list, ping, or any other). Return a *jsonrpc.Error to answer with that error. It
	// runs in a goroutine of its own and must return once ctx ends: Close waits for it.
	Request func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
	// Notify receives a notification. It is called in the order the server sent them, before
	// the result that followed them is returned by Call. It holds up the stream that carried
	// the notification (over stdio, everything the child sends), so it must not wait for a
	// call on the same session.
	Notify func(ctx context.Context, method string, params json.RawMessage)
}

// HTTP is a streamable HTTP upstream.
type HTTP struct {
	URL    string
	Client *http.Client // nil: the session's own pooled client; share one to share connections
	Header http.Header  // sent with every request (for instance Authorization)
}

// Stdio is an upstream started as a child process for each session.
type Stdio struct {
	Command *exec.Cmd // a fresh, unstarted command for each session
}

// Config is how to reach the upstream and what to do with what it sends.
type Config struct {
	HTTP    *HTTP  // exactly one of HTTP and Stdio
	Stdio   *Stdio //
	Handler Handler
	Logger  *slog.Logger
	// MaxMessageBytes bounds one message from the server; 0 means DefaultMaxMessageBytes.
	MaxMessageBytes int64
}

// DefaultMaxMessageBytes bounds one message from an upstream unless configured otherwise.
const DefaultMaxMessageBytes = 16 << 20

// ErrSessionLost is wrapped by the error of calls that fail because the session ended.
var ErrSessionLost = errors.New("upstream session lost")

// transport is what differs between stdio and streamable HTTP.
type transport interface {
	// call sends a request and returns its response. What the server sends meanwhile is
	// handed to the session's deliver, with ctx where the transport can tell.
	call(ctx context.Context, req *jsonrpc.Request) (*jsonrpc.Response, error)
	// send sends a notification or the answer to a server's request.
	send(ctx context.Context, msg jsonrpc.Message) error
	// close ends the session on the server (DELETE, or the child's exit) and waits for it.
	close() error
}

// Session is one session with one upstream server.
type Session struct {
	init    json.RawMessage
	handler Handler
	log     *slog.Logger
	max     int64
	name    string // the upstream's URL or command, for errors
	t       transport
	ids     atomic.Int64

	// ctx is the session's own context: the values of Connect's ctx, cancelled when the
	// session ends. What the server sends outside any call is handled with it.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	err     error
	ended   bool
	closing bool
	tasks   sync.WaitGroup // goroutines of the session: answers to the server, the GET stream
}

// Connect starts the transport and performs `initialize` with params (raw, as the agent sent
// them, with the protocol version the gateway negotiated).
func Connect(ctx context.Context, cfg Config, params json.RawMessage) (*Session, error) {
	if (cfg.HTTP == nil) == (cfg.Stdio == nil) {
		return nil, errors.New("upstream: exactly one of HTTP and Stdio must be set")
	}
	s := &Session{handler: cfg.Handler, log: cfg.Logger, max: cfg.MaxMessageBytes, done: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.max <= 0 {
		s.max = DefaultMaxMessageBytes
	}
	var err error
	if cfg.HTTP != nil {
		s.name, err = urlName(cfg.HTTP.URL)
		if err != nil {
			return nil, err
		}
	} else if s.name, err = commandName(cfg.Stdio.Command); err != nil {
		return nil, err
	}
	s.log = s.log.With("upstream", s.name)
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if cfg.HTTP != nil {
		s.t, err = newHTTP(s, cfg.HTTP)
	} else {
		s.t, err = startStdio(ctx, s, cfg.Stdio.Command)
	}
	if err != nil {
		s.cancel()
		return nil, err
	}
	res, err := s.Call(ctx, methodInitialize, params)
	if err != nil {
		var werr *jsonrpc.Error
		if errors.As(err, &werr) || ctx.Err() != nil { // the only errors of Call that do not name the upstream
			err = fmt.Errorf("upstream %s: initialize: %w", s.name, err)
		}
		cerr := s.Close()
		if s.Err() != nil { // the session died while initialising: say how
			err = s.Err()
		}
		return nil, errors.Join(err, cerr)
	}
	s.init = res
	return s, nil
}

// sendTimeout bounds sending what no caller waits for (the answer to a server's request, a
// cancellation): past it the message is dropped and a warning logged.
const sendTimeout = 10 * time.Second

const (
	methodInitialize  = "initialize"
	methodInitialized = "notifications/initialized"
	methodCancelled   = "notifications/cancelled"
)

// InitializeResult is the server's initialize result as it wrote it.
func (s *Session) InitializeResult() json.RawMessage { return s.init }

// Call sends a request and returns its raw result.
func (s *Session) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := s.lost(); err != nil {
		return nil, err
	}
	id, err := jsonrpc.MakeID(float64(s.ids.Add(1)))
	if err != nil {
		return nil, err
	}
	resp, err := s.t.call(ctx, &jsonrpc.Request{ID: id, Method: method, Params: params})
	if ctx.Err() != nil && resp == nil {
		// The server may still be working on it: tell it to stop. Initialize is never
		// cancelled (the spec forbids it); the session is closed instead.
		if method != methodInitialize {
			s.cancelled(id, context.Cause(ctx))
		}
		return nil, ctx.Err()
	}
	if err != nil {
		if lost := s.lost(); lost != nil && !errors.Is(err, ErrSessionLost) {
			err = fmt.Errorf("%w (%v)", lost, err)
		}
		return nil, err
	}
	if resp.Error != nil {
		var werr *jsonrpc.Error
		if errors.As(resp.Error, &werr) {
			return nil, werr
		}
		return nil, resp.Error
	}
	if resp.Result == nil {
		return json.RawMessage("null"), nil
	}
	return resp.Result, nil
}

// cancelled tells the server that the request id is no longer awaited.
func (s *Session) cancelled(id jsonrpc.ID, cause error) {
	reason := "cancelled"
	if cause != nil {
		reason = cause.Error()
	}
	params, err := json.Marshal(struct {
		RequestID any    `json:"requestId"`
		Reason    string `json:"reason"`
	}{id.Raw(), reason})
	if err != nil {
		return
	}
	s.spawn(func() {
		ctx, stop := context.WithTimeout(s.ctx, sendTimeout)
		defer stop()
		if err := s.t.send(ctx, &jsonrpc.Request{Method: methodCancelled, Params: params}); err != nil && s.ctx.Err() == nil {
			s.log.Warn("upstream: sending notifications/cancelled", "id", id.Raw(), "err", err)
		}
	})
}

// Notify sends a notification.
func (s *Session) Notify(ctx context.Context, method string, params json.RawMessage) error {
	if err := s.lost(); err != nil {
		return err
	}
	ctx, stop := s.scope(ctx)
	defer stop()
	err := s.t.send(ctx, &jsonrpc.Request{Method: method, Params: params})
	if lost := s.lost(); err != nil && lost != nil && !errors.Is(err, ErrSessionLost) {
		err = fmt.Errorf("%w (%v)", lost, err)
	}
	return err
}

// Listen opens the server's standalone stream (streamable HTTP; nothing over stdio, where
// everything shares one stream), once, and returns when the server has answered it (or after
// a bound). What the server sends outside any call arrives there. The proxy opens it when the
// agent opens its own, so the server sees the same order of streams and messages as it would
// from the agent directly: a server that asks for roots as soon as it is initialized finds the
// stream open if the agent's was.
func (s *Session) Listen(ctx context.Context) {
	if h, ok := s.t.(*httpConn); ok && s.lost() == nil {
		h.openListen(ctx)
	}
}

// Close ends the session (HTTP: DELETE; stdio: the child is asked to exit, then killed after
// a grace period) and waits for it.
func (s *Session) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closing = true
	running := !s.ended
	s.mu.Unlock()
	s.cancel() // stops what the session runs (the GET stream, calls in flight) before the end
	err := s.t.close()
	s.end(nil)
	s.tasks.Wait()
	if !running { // the session had already ended, and Err says why
		return nil
	}
	return err
}

// Done is closed when the session has ended, for whatever reason; Err then says why.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended (nil while it runs, or after Close).
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// end ends the session once: err is why (nil when closed on purpose). Calls in flight fail
// with an error wrapping ErrSessionLost.
func (s *Session) end(err error) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	if s.closing { // what fails while Close ends the session is its doing
		err = nil
	}
	s.ended, s.err = true, err
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("upstream: session lost", "err", err)
	}
	s.cancel()
	close(s.done)
}

// lost is the error of a call on a session that has ended, nil while it runs.
func (s *Session) lost() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.err != nil:
		return s.err
	case s.ended || s.closing:
		return fmt.Errorf("upstream %s: %w: closed", s.name, ErrSessionLost)
	}
	return nil
}

// spawn runs f in a goroutine that Close waits for, unless the session is closing.
func (s *Session) spawn(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.tasks.Add(1)
	go func() {
		defer s.tasks.Done()
		f()
	}()
	return true
}

// scope is ctx (its values and its end) ending also when the session does, so nothing a call
// started outlives the session.
func (s *Session) scope(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
