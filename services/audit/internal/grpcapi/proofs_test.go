package grpcapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// fakeProofs answers as a ledger would, from fixed values, and records the arguments it got;
// err, when set, is every answer.
type fakeProofs struct {
	err error

	mu   sync.Mutex
	args []uint64
}

var (
	fakeRoot   = []byte("0123456789abcdef0123456789abcdef")
	fakeNote   = []byte("osiris-audit\n7\nMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n\n\u2014 osiris-audit AAAA\n")
	fakeHashes = [][]byte{[]byte("first hash, 32 bytes long ......"), []byte("second hash, 32 bytes long ....."), {0, 1, 2}}
)

const fakeKey = "osiris-audit+01234567+AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="

func (f *fakeProofs) record(args ...uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.args = append(f.args[:0], args...)
	return f.err
}

func (f *fakeProofs) got() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.args...)
}

func (f *fakeProofs) Checkpoint(_ context.Context, size uint64) (ledger.Checkpoint, error) {
	if err := f.record(size); err != nil {
		return ledger.Checkpoint{}, err
	}
	return ledger.Checkpoint{Size: 7, Root: fakeRoot, Note: fakeNote}, nil
}

func (f *fakeProofs) InclusionProof(_ context.Context, seq, treeSize uint64) (ledger.Proof, error) {
	if err := f.record(seq, treeSize); err != nil {
		return ledger.Proof{}, err
	}
	return ledger.Proof{LeafIndex: seq - 1, TreeSize: 7, Hashes: fakeHashes}, nil
}

func (f *fakeProofs) ConsistencyProof(_ context.Context, from, to uint64) ([][]byte, error) {
	if err := f.record(from, to); err != nil {
		return nil, err
	}
	return fakeHashes[:2], nil
}

func (f *fakeProofs) VerifierKey() string { return fakeKey }

// served is a Server over fake on an in-process gRPC connection, with the REST mapping in
// front of it as the service registers it, and the error map of the serving platform.
type served struct {
	client auditv1.AuditServiceClient
	rest   http.Handler
}

func serveFake(t *testing.T, fake *fakeProofs) served {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		resp, err := h(ctx, req)
		err, _ = apierr.ToStatus(err)
		return resp, err
	}))
	auditv1.RegisterAuditServiceServer(srv, &Server{proofs: fake})
	go srv.Serve(lis)
	conn, err := grpc.NewClient("passthrough:///bufconn", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close(); srv.Stop() })
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{EmitUnpopulated: true}},
	}))
	if err := RegisterGateway(slog.New(slog.NewTextHandler(io.Discard, nil)))(ctx, mux, conn); err != nil {
		t.Fatal(err)
	}
	return served{client: auditv1.NewAuditServiceClient(conn), rest: mux}
}

// get sends a REST GET and returns the status, content type and body.
func (s served) get(t *testing.T, target string) (int, string, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	s.rest.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func sameArgs(got []uint64, want ...uint64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// Each proof RPC passes its request's fields to the ledger in order and its answer back,
// over gRPC and over REST (query parameters in, lowerCamelCase JSON out, bytes as base64,
// 64-bit integers as strings).
func TestProofRPCsTranslateRequestAndReply(t *testing.T) {
	fake := &fakeProofs{}
	s := serveFake(t, fake)
	ctx := context.Background()

	cp, err := s.client.GetCheckpoint(ctx, &auditv1.GetCheckpointRequest{TreeSize: 5})
	if err != nil || cp.GetTreeSize() != 7 || string(cp.GetRootHash()) != string(fakeRoot) || string(cp.GetNote()) != string(fakeNote) || !sameArgs(fake.got(), 5) {
		t.Fatalf("GetCheckpoint(5) = %v, %v; ledger got %v", cp, err, fake.got())
	}
	ip, err := s.client.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Seq: 3, TreeSize: 6})
	if err != nil || ip.GetLeafIndex() != 2 || ip.GetTreeSize() != 7 || len(ip.GetHashes()) != 3 || string(ip.GetHashes()[2]) != "\x00\x01\x02" || !sameArgs(fake.got(), 3, 6) {
		t.Fatalf("GetInclusionProof(3, 6) = %v, %v; ledger got %v", ip, err, fake.got())
	}
	cs, err := s.client.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{FromSize: 4, ToSize: 9})
	if err != nil || len(cs.GetHashes()) != 2 || string(cs.GetHashes()[1]) != string(fakeHashes[1]) || !sameArgs(fake.got(), 4, 9) {
		t.Fatalf("GetConsistencyProof(4, 9) = %v, %v; ledger got %v", cs, err, fake.got())
	}
	pk, err := s.client.GetPublicKey(ctx, &auditv1.GetPublicKeyRequest{})
	if err != nil || pk.GetVerifierKey() != fakeKey {
		t.Fatalf("GetPublicKey = %v, %v", pk, err)
	}

	for _, tc := range []struct {
		target string
		args   []uint64
		want   map[string]any
	}{
		{"/v1/audit/checkpoint", []uint64{0}, map[string]any{"note": b64(fakeNote), "treeSize": "7", "rootHash": b64(fakeRoot)}},
		{"/v1/audit/checkpoint?tree_size=5", []uint64{5}, nil},
		{"/v1/audit/checkpoint?treeSize=6", []uint64{6}, nil},
		{"/v1/audit/proofs/inclusion?seq=3&tree_size=6", []uint64{3, 6}, map[string]any{"leafIndex": "2", "treeSize": "7",
			"hashes": []any{b64(fakeHashes[0]), b64(fakeHashes[1]), b64(fakeHashes[2])}}},
		{"/v1/audit/proofs/inclusion?seq=4", []uint64{4, 0}, nil},
		{"/v1/audit/proofs/consistency?from_size=4&to_size=9", []uint64{4, 9}, map[string]any{"hashes": []any{b64(fakeHashes[0]), b64(fakeHashes[1])}}},
		{"/v1/audit/proofs/consistency?fromSize=1&toSize=2", []uint64{1, 2}, nil},
		{"/v1/audit/public-key", nil, map[string]any{"verifierKey": fakeKey}},
	} {
		fake.record() // clear
		code, ctype, body := s.get(t, tc.target)
		if code != http.StatusOK || !strings.HasPrefix(ctype, "application/json") || !sameArgs(fake.got(), tc.args...) {
			t.Fatalf("GET %s: %d %s %s; ledger got %v, want %v", tc.target, code, ctype, body, fake.got(), tc.args)
		}
		if tc.want == nil {
			continue
		}
		var got map[string]any
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("GET %s: %s: %v", tc.target, body, err)
		}
		if g, w := mustJSON(t, got), mustJSON(t, tc.want); g != w {
			t.Fatalf("GET %s:\n got %s\nwant %s", tc.target, g, w)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v) // maps marshal with sorted keys
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The note alone is served as text/plain, byte for byte, for witnesses and curl; over gRPC it
// is an HttpBody of that type.
func TestCheckpointNoteIsPlainText(t *testing.T) {
	fake := &fakeProofs{}
	s := serveFake(t, fake)
	for _, tc := range []struct {
		target string
		size   uint64
	}{{"/v1/audit/checkpoint:note", 0}, {"/v1/audit/checkpoint:note?tree_size=7", 7}} {
		code, ctype, body := s.get(t, tc.target)
		if code != http.StatusOK || ctype != notePlainText || string(body) != string(fakeNote) || !sameArgs(fake.got(), tc.size) {
			t.Fatalf("GET %s: %d %q %q; ledger got %v", tc.target, code, ctype, body, fake.got())
		}
	}
	hb, err := s.client.GetCheckpointNote(context.Background(), &auditv1.GetCheckpointNoteRequest{TreeSize: 3})
	if err != nil || hb.GetContentType() != notePlainText || string(hb.GetData()) != string(fakeNote) || !sameArgs(fake.got(), 3) {
		t.Fatalf("GetCheckpointNote(3) = %v, %v", hb, err)
	}
}

// The ledger's refusals keep their code and message on both transports: the code a client
// acts on (retry on UNAVAILABLE, a smaller size on NOT_FOUND, a fix on INVALID_ARGUMENT).
func TestProofErrorsKeepTheirCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code codes.Code
		http int
	}{
		{apierr.Unavailable("proofs are not built yet"), codes.Unavailable, http.StatusServiceUnavailable},
		{apierr.NotFound("no checkpoint at tree size 5"), codes.NotFound, http.StatusNotFound},
		{apierr.Invalid("tree_size 90 is past the log's size 12"), codes.InvalidArgument, http.StatusBadRequest},
		{apierr.FailedPrecondition("from_size 9 > to_size 4"), codes.FailedPrecondition, http.StatusBadRequest},
	} {
		s := serveFake(t, &fakeProofs{err: tc.err})
		ctx := context.Background()
		calls := map[string]func() error{
			"GetCheckpoint": func() error {
				_, err := s.client.GetCheckpoint(ctx, &auditv1.GetCheckpointRequest{TreeSize: 5})
				return err
			},
			"GetCheckpointNote": func() error {
				_, err := s.client.GetCheckpointNote(ctx, &auditv1.GetCheckpointNoteRequest{})
				return err
			},
			"GetInclusionProof": func() error {
				_, err := s.client.GetInclusionProof(ctx, &auditv1.GetInclusionProofRequest{Seq: 1})
				return err
			},
			"GetConsistencyProof": func() error {
				_, err := s.client.GetConsistencyProof(ctx, &auditv1.GetConsistencyProofRequest{FromSize: 1, ToSize: 2})
				return err
			},
		}
		for name, call := range calls {
			if st := status.Convert(call()); st.Code() != tc.code || st.Message() != tc.err.Error() {
				t.Fatalf("%s with %v: %v %q", name, tc.err, st.Code(), st.Message())
			}
		}
		for _, target := range []string{"/v1/audit/checkpoint", "/v1/audit/checkpoint:note", "/v1/audit/proofs/inclusion?seq=1", "/v1/audit/proofs/consistency?from_size=1&to_size=2"} {
			if code, _, body := s.get(t, target); code != tc.http || !strings.Contains(string(body), tc.err.Error()) {
				t.Fatalf("GET %s with %v: %d %s", target, tc.err, code, body)
			}
		}
	}
}

// A query parameter that is not a number is refused before the ledger is asked.
func TestProofQueryParametersMustBeNumbers(t *testing.T) {
	fake := &fakeProofs{}
	s := serveFake(t, fake)
	for _, target := range []string{"/v1/audit/proofs/inclusion?seq=x", "/v1/audit/proofs/inclusion?seq=-1", "/v1/audit/checkpoint?tree_size=1e3", "/v1/audit/proofs/consistency?from_size=1&to_size=18446744073709551616"} {
		fake.record(999)
		if code, _, body := s.get(t, target); code != http.StatusBadRequest || !sameArgs(fake.got(), 999) {
			t.Fatalf("GET %s: %d %s; ledger got %v", target, code, body, fake.got())
		}
	}
}
