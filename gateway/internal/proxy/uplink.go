package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/osirisplane/osiris/gateway/internal/upstream"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

// minUpstreamLife: an upstream session lost sooner than this after it was opened is not
// re-initialised again, so a child that crashes at start cannot loop.
const minUpstreamLife = time.Second

// upLink is an agent's session with one upstream: its own (the default), or the one session
// every agent shares with an upstream declared stateless (shared.go).
type upLink struct {
	link   *link
	up     Upstream
	prefix string        // "NAME_" with several upstreams, "" with one
	shared *sharedUp     // set when the upstream is shared
	wake   chan struct{} // tells supervise the session changed

	dialing sync.Mutex // one (re-)initialisation at a time
	mu      sync.Mutex
	s       *upstream.Session // nil before the first dial and while parked (idle)
	opened  time.Time
	stdio   bool // its messages do not say which call they belong to
	caps    map[string]json.RawMessage
	init    json.RawMessage
	busy    int // requests in flight
	used    time.Time
}

func newUpLink(l *link, up Upstream, prefix string) *upLink {
	return &upLink{link: l, up: up, prefix: prefix, wake: make(chan struct{}, 1)}
}

// current is the agent's own session now (nil while parked, or for a shared upstream).
func (u *upLink) current() *upstream.Session {
	if u.shared != nil {
		return nil
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.s
}

// has reports whether the upstream offers a capability (tools, resources, logging, tasks, ...).
func (u *upLink) has(capability string) bool {
	if u.shared != nil {
		return u.shared.has(capability)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	v, ok := u.caps[capability]
	return ok && !bytes.Equal(v, []byte("null"))
}

// initializeResult is the upstream's initialize result as it wrote it.
func (u *upLink) initializeResult() json.RawMessage {
	if u.shared != nil {
		return u.shared.initializeResult()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.init
}

func (u *upLink) isStdio() bool {
	if u.shared != nil {
		return u.shared.stdio
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.stdio
}

// open makes the upstream session the agent's initialize needs.
func (u *upLink) open(ctx context.Context) error {
	if u.shared != nil {
		return u.shared.join(ctx, u.link)
	}
	return u.dial(ctx)
}

// dial opens this agent's own session with the upstream, with the agent's initialize params;
// after the agent has finished initializing, it also sends the agent's initialized.
func (u *upLink) dial(ctx context.Context) error {
	cfg := u.up.Config()
	cfg.Logger = u.link.proxy.cfg.Logger.With("upstream", u.up.Name, "session", u.link.id)
	cfg.Handler = upstream.Handler{Request: u.relayRequest, Notify: u.relayNotify}
	// The upstream session outlives the request that opens it.
	s, err := upstream.Connect(context.WithoutCancel(ctx), cfg, u.link.params)
	if err != nil {
		return err
	}
	caps, err := capabilities(s.InitializeResult())
	if err != nil {
		s.Close()
		return err
	}
	u.mu.Lock()
	u.s, u.opened, u.used, u.caps, u.init, u.stdio = s, time.Now(), time.Now(), caps, s.InitializeResult(), cfg.Stdio != nil
	u.mu.Unlock()
	select {
	case u.wake <- struct{}{}:
	default:
	}
	if u.link.listeningNow() {
		s.Listen(ctx)
	}
	if ready, params := u.link.readiness(); ready {
		s.Notify(u.link.bg, "notifications/initialized", params)
	}
	return nil
}

func capabilities(init json.RawMessage) (map[string]json.RawMessage, error) {
	var r struct {
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	if err := json.Unmarshal(init, &r); err != nil {
		return nil, fmt.Errorf("its initialize result is not an object: %w", err)
	}
	return r.Capabilities, nil
}

// acquire returns the session for one request, reopening it if it was closed for idleness;
// release marks the request done.
func (u *upLink) acquire(ctx context.Context) (s *upstream.Session, release func(), err error) {
	u.mu.Lock()
	s = u.s
	u.mu.Unlock()
	if s == nil {
		u.dialing.Lock()
		u.mu.Lock()
		parked := u.s == nil
		u.mu.Unlock()
		if parked {
			err = u.dial(ctx)
		}
		u.dialing.Unlock()
		if err != nil {
			return nil, nil, fmt.Errorf("reopening upstream %s: %w", u.up.Name, err)
		}
	}
	u.mu.Lock()
	s = u.s
	u.busy++
	u.mu.Unlock()
	return s, func() {
		u.mu.Lock()
		u.busy--
		u.used = time.Now()
		u.mu.Unlock()
	}, nil
}

func (u *upLink) call(ctx context.Context, method string, params json.RawMessage) (*wire.Reply, error) {
	if u.shared != nil {
		return u.shared.call(ctx, u.link, method, params)
	}
	s, release, err := u.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return u.link.proxy.timed(ctx, s, u.link.version, method, params)
}

// timed calls the upstream and records the operation.
func (p *Proxy) timed(ctx context.Context, s *upstream.Session, version, method string, params json.RawMessage) (*wire.Reply, error) {
	began := time.Now()
	res, err := s.Call(ctx, method, params)
	p.cfg.Metrics.upstream(ctx, began, method, params, version, err)
	if err != nil {
		return nil, passError(err)
	}
	return &wire.Reply{Result: res}, nil
}

func (u *upLink) notify(ctx context.Context, method string, params json.RawMessage) error {
	if u.shared != nil {
		return nil // the shared session's own initialized was sent when it opened
	}
	s, release, err := u.acquire(ctx)
	if err != nil {
		return err
	}
	defer release()
	return s.Notify(ctx, method, params)
}

// close ends this agent's own session (a shared one stays for the others).
func (u *upLink) close() {
	if u.shared != nil {
		u.shared.leave(u.link)
		return
	}
	u.mu.Lock()
	s := u.s
	u.s = nil
	u.mu.Unlock()
	if s != nil {
		s.Close()
	}
}

// supervise ties the upstream session's life to the agent's. When the agent leaves, the
// session closes (a stdio child exits). When the session ends first (a child died, a server
// dropped the session), it is re-initialised, once per loss: calls in flight fail, the next
// call works; if that fails, or the new session is lost within minUpstreamLife, the agent's
// session ends with a clear error instead of hanging. A session idle for the upstream's Idle
// is closed and reopened by the next request.
func (u *upLink) supervise(agentGone <-chan struct{}) {
	if u.shared != nil {
		<-agentGone
		u.close()
		return
	}
	log := u.link.proxy.cfg.Logger.With("session", u.link.id, "upstream", u.up.Name)
	for {
		u.mu.Lock()
		s, opened, used, busy := u.s, u.opened, u.used, u.busy
		u.mu.Unlock()
		var lost <-chan struct{}
		idle := time.NewTimer(time.Hour)
		idle.Stop()
		if s != nil {
			lost = s.Done()
			if u.up.Idle > 0 {
				idle.Reset(max(time.Until(used.Add(u.up.Idle)), time.Millisecond))
			}
		}
		select {
		case <-agentGone:
			idle.Stop()
			u.close()
			return
		case <-u.wake:
		case <-idle.C:
			u.mu.Lock()
			if u.s == s && u.busy == 0 && busy == 0 && time.Since(u.used) >= u.up.Idle {
				u.s = nil
				u.mu.Unlock()
				log.Info("upstream session idle; closed until the agent's next request", "idle", u.up.Idle)
				s.Close()
				break
			}
			u.mu.Unlock()
		case <-lost:
			u.mu.Lock()
			current := u.s == s
			u.mu.Unlock()
			if !current {
				break // closed for idleness, or already replaced
			}
			if time.Since(opened) < minUpstreamLife {
				log.Warn("upstream session lost right after it opened; closing the agent's session", "err", s.Err())
				u.link.ss.Close()
				u.close()
				return
			}
			u.dialing.Lock()
			err := u.dial(u.link.bg)
			u.dialing.Unlock()
			if err != nil {
				log.Warn("upstream session lost and could not be re-initialised; closing the agent's session", "lost", s.Err(), "err", err)
				u.link.ss.Close()
				u.close()
				return
			}
			log.Info("upstream session lost; re-initialised", "lost", s.Err())
		}
		idle.Stop()
	}
}
