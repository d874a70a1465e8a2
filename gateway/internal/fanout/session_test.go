package fanout

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
)

// fakeSessions is a session service that remembers sessions, can forget them (as after its
// TTL or a restart), and can hold touches until released.
type fakeSessions struct {
	sessionv1.SessionServiceClient // other methods are not used

	mu       sync.Mutex
	live     map[string]bool
	creates  []*sessionv1.CreateSessionRequest
	touches  int
	hold     chan struct{} // when set, a touch waits for it to close
	touching chan struct{} // signalled when a touch starts
}

func newFakeSessions() *fakeSessions {
	return &fakeSessions{live: map[string]bool{}, touching: make(chan struct{}, 1)}
}

func (f *fakeSessions) CreateSession(_ context.Context, req *sessionv1.CreateSessionRequest, _ ...grpc.CallOption) (*sessionv1.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.creates = append(f.creates, req)
	f.live[req.GetId()] = true
	return &sessionv1.Session{Id: req.GetId()}, nil
}

func (f *fakeSessions) TouchSession(ctx context.Context, req *sessionv1.TouchSessionRequest, _ ...grpc.CallOption) (*sessionv1.Session, error) {
	f.mu.Lock()
	f.touches++
	hold := f.hold
	f.mu.Unlock()
	select {
	case f.touching <- struct{}{}:
	default:
	}
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.live[req.GetId()] {
		return nil, status.Errorf(codes.NotFound, "session %q not found (never created, expired or deleted)", req.GetId())
	}
	return &sessionv1.Session{Id: req.GetId()}, nil
}

func (f *fakeSessions) CloseSession(_ context.Context, req *sessionv1.CloseSessionRequest, _ ...grpc.CallOption) (*sessionv1.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, req.GetId())
	return &sessionv1.Session{Id: req.GetId()}, nil
}

func (f *fakeSessions) GetSession(_ context.Context, req *sessionv1.GetSessionRequest, _ ...grpc.CallOption) (*sessionv1.Session, error) {
	return &sessionv1.Session{Id: req.GetId()}, nil
}

func (f *fakeSessions) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.live, id)
}

func (f *fakeSessions) created() []*sessionv1.CreateSessionRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sessionv1.CreateSessionRequest(nil), f.creates...)
}

func newTestSessions(t *testing.T, f *fakeSessions, sessionTimeout time.Duration) (*Sessions, *counter) {
	t.Helper()
	errs := &counter{}
	s, err := NewSessions(f, sessionTimeout, droppedMeter{dropped: errs}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, errs
}

func initialize(name string) *mcp.InitializeParams {
	return &mcp.InitializeParams{ClientInfo: &mcp.Implementation{Name: name, Version: "1.0"}}
}

// The mirror asks for an idle TTL no shorter than the gateway's session timeout (plus the
// longest gap between touches), so it does not expire under a live agent session.
func TestSessionMirrorTTLCoversTheSessionTimeout(t *testing.T) {
	f := newFakeSessions()
	s, _ := newTestSessions(t, f, 45*time.Minute)
	s.Opened(context.Background(), "S", initialize("agent"))
	c := f.created()
	if len(c) != 1 || c[0].GetIdleTtl().AsDuration() < 45*time.Minute+TouchEvery {
		t.Fatalf("created %v; want an idle TTL of at least the session timeout plus %s", c, TouchEvery)
	}
	if c[0].GetLabels()["client"] != "agent" || c[0].GetLabels()["source"] != "gateway" {
		t.Fatalf("labels %v", c[0].GetLabels())
	}
}

// A session the service no longer knows (its TTL ran out, or the service restarted) is
// created again on the next touch, with the same id and labels; one the agent closed is not.
func TestSessionMirrorIsRecreatedAfterNotFound(t *testing.T) {
	f := newFakeSessions()
	s, errs := newTestSessions(t, f, time.Minute)
	s.touchEvery = 0 // every call is due for a touch
	s.Opened(context.Background(), "S", initialize("agent"))
	f.forget("S")
	var calls int
	if _, err := s.Around(context.Background(), toolCall("S", lookupCall), answer(`{}`, &calls)); err != nil || calls != 1 {
		t.Fatalf("call: %v after %d forwards", err, calls)
	}
	eventually(t, "the session is created again", func() bool { return len(f.created()) == 2 })
	c := f.created()
	if c[1].GetId() != "S" || c[1].GetLabels()["client"] != "agent" || c[1].GetIdleTtl().AsDuration() != c[0].GetIdleTtl().AsDuration() {
		t.Fatalf("re-created as %v, first as %v", c[1], c[0])
	}
	if errs.n.Load() != 0 {
		t.Fatalf("%d errors counted for a re-creation", errs.n.Load())
	}

	s.Closed("S")
	if _, err := s.Around(context.Background(), toolCall("S", lookupCall), answer(`{}`, &calls)); err != nil {
		t.Fatal(err)
	}
	s.Close() // waits for any touch in progress
	if n := len(f.created()); n != 2 {
		t.Fatalf("a closed session was created again (%d creates)", n)
	}
}

// A touch never holds up a call: with the session service stuck, calls go on at once, and a
// session due for a touch is queued once however many calls it makes meanwhile.
func TestSessionTouchIsOffTheCallPath(t *testing.T) {
	f := newFakeSessions()
	f.hold = make(chan struct{})
	s, _ := newTestSessions(t, f, time.Minute)
	s.touchEvery = 0
	s.Opened(context.Background(), "S", initialize("agent"))
	s.Opened(context.Background(), "T", initialize("agent"))
	done := make(chan error, 1)
	go func() {
		var calls int
		for range 100 {
			if _, err := s.Around(context.Background(), toolCall("S", lookupCall), answer(`{}`, &calls)); err != nil {
				done <- err
				return
			}
		}
		_, err := s.Around(context.Background(), toolCall("T", lookupCall), answer(`{}`, &calls))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("calls waited for the session service")
	}
	<-f.touching
	s.mu.Lock()
	queued := append([]string(nil), s.queue...)
	s.mu.Unlock()
	close(f.hold)
	// One touch of S is in progress; S is queued again at most once more, T once.
	if len(queued) > 2 {
		t.Fatalf("queue %v while one touch was held", queued)
	}
}

// The touch queue is bounded: past MaxPendingTouches a touch is dropped and counted.
func TestSessionTouchQueueIsBounded(t *testing.T) {
	f := newFakeSessions()
	f.hold = make(chan struct{})
	s, errs := newTestSessions(t, f, time.Minute)
	s.touchEvery = 0
	for i := range MaxPendingTouches + 2 {
		s.Opened(context.Background(), fmt.Sprint(i), nil)
	}
	s.due("0")
	<-f.touching // "0" is being touched, so it is out of the queue
	for i := 1; i < MaxPendingTouches+2; i++ {
		s.due(fmt.Sprint(i))
	}
	s.mu.Lock()
	queued := len(s.queue)
	s.mu.Unlock()
	close(f.hold)
	if queued != MaxPendingTouches || errs.n.Load() != 1 {
		t.Fatalf("%d queued, %d dropped; want %d and 1", queued, errs.n.Load(), MaxPendingTouches)
	}
}
