package fanout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
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

// proofAudit is an audit service that holds events of one session and answers the proof
// RPCs from fixed values, counting the requests it gets.
type proofAudit struct {
	auditv1.AuditServiceClient // other methods are not used
	events                     []*auditv1.Event
	treeSize                   uint64 // of the newest checkpoint; 0: none yet (NOT_FOUND)
	proofErr                   error

	mu          sync.Mutex
	checkpoints int
	proofs      []*auditv1.GetInclusionProofRequest
}

const fakeVerifierKey = "osiris-audit+0badc0de+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

func fakeNote(size uint64) string {
	return fmt.Sprintf("osiris-audit\n%d\nAAAA\n\n\u2014 osiris-audit sig\n", size)
}

func (f *proofAudit) ListEvents(_ context.Context, req *auditv1.ListEventsRequest, _ ...grpc.CallOption) (*auditv1.ListEventsResponse, error) {
	var out []*auditv1.Event
	for _, e := range f.events {
		if e.GetSessionId() == req.GetSessionId() {
			out = append(out, e)
		}
	}
	return &auditv1.ListEventsResponse{Events: out}, nil
}

func (f *proofAudit) GetCheckpoint(_ context.Context, req *auditv1.GetCheckpointRequest, _ ...grpc.CallOption) (*auditv1.GetCheckpointResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checkpoints++
	if req.GetTreeSize() != 0 || f.treeSize == 0 {
		return nil, status.Error(codes.NotFound, "no checkpoint")
	}
	return &auditv1.GetCheckpointResponse{TreeSize: f.treeSize, RootHash: []byte{0xab, 0xcd}, Note: []byte(fakeNote(f.treeSize))}, nil
}

func (f *proofAudit) GetInclusionProof(_ context.Context, req *auditv1.GetInclusionProofRequest, _ ...grpc.CallOption) (*auditv1.GetInclusionProofResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.proofs = append(f.proofs, req)
	if f.proofErr != nil {
		return nil, f.proofErr
	}
	// A proof that names its request, so the test sees each event got its own.
	return &auditv1.GetInclusionProofResponse{LeafIndex: req.GetSeq() - 1, TreeSize: req.GetTreeSize(),
		Hashes: [][]byte{{byte(req.GetSeq())}, {0xff}}}, nil
}

func (f *proofAudit) GetPublicKey(context.Context, *auditv1.GetPublicKeyRequest, ...grpc.CallOption) (*auditv1.GetPublicKeyResponse, error) {
	return &auditv1.GetPublicKeyResponse{VerifierKey: fakeVerifierKey}, nil
}
