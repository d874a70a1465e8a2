package fanout

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	cachev1 "github.com/osirisplane/osiris/api/osiris/cache/v1"
	"github.com/osirisplane/osiris/gateway/internal/wire"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// toolCall is a tools/call request as an agent of session wrote it.
func toolCall(session, params string) *wire.Call {
	return &wire.Call{Method: "tools/call", Params: json.RawMessage(params), Session: session}
}

// answer is a forward that answers result at once and counts its calls.
func answer(result string, calls *int) wire.Forward {
	return func(context.Context) (*wire.Reply, error) {
		*calls++
		return &wire.Reply{Result: json.RawMessage(result)}, nil
	}
}

// memCache is a cache service in memory.
type memCache struct {
	cachev1.CacheServiceClient // other methods are not used

	mu      sync.Mutex
	entries map[string][]byte
	tags    map[string][]string
}

func newMemCache() *memCache {
	return &memCache{entries: map[string][]byte{}, tags: map[string][]string{}}
}

func (m *memCache) Get(_ context.Context, req *cachev1.GetRequest, _ ...grpc.CallOption) (*cachev1.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.entries[req.GetNamespace()+"/"+req.GetKey()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such entry")
	}
	return &cachev1.Entry{Value: v}, nil
}

func (m *memCache) Put(_ context.Context, req *cachev1.PutRequest, _ ...grpc.CallOption) (*cachev1.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := req.GetNamespace() + "/" + req.GetKey()
	m.entries[k] = append([]byte(nil), req.GetValue()...)
	m.tags[k] = req.GetTags()
	return &cachev1.Entry{}, nil
}

func (m *memCache) stored() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func newTestCache(policies map[string]Policy) (*Cache, *memCache) {
	mem := newMemCache()
	return NewCache(mem, policies, 30*time.Second, quiet()), mem
}

// meta returns result._meta.key, or nil.
func meta(t *testing.T, r *wire.Reply, key string) any {
	t.Helper()
	var v struct {
		Meta map[string]any `json:"_meta"`
	}
	if err := json.Unmarshal(r.Result, &v); err != nil {
		t.Fatalf("result %s: %v", r.Result, err)
	}
	return v.Meta[key]
}

// eventually waits (bounded) until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
	}
}
