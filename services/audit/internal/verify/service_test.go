package verify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit"
	"github.com/osirisplane/osiris/services/audit/internal/leaf"
	"github.com/osirisplane/osiris/services/audit/internal/signing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestServedExportVerifies appends events with awkward arguments to a real audit service,
// exports them over REST as an auditor would, and runs both verifiers on the served bytes. The
// checkpoint's root is computed from the events read back over gRPC, a path apart from the
// export, so the test checks that what the service serves is what its leaves are.
func TestServedExportVerifies(t *testing.T) {
	cfg := audit.DefaultConfig()
	cfg.DataDir, cfg.GRPCAddr, cfg.HTTPAddr = t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	svc, err := audit.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service stopped with error: %v", err)
		}
	}()
	conn, err := grpc.NewClient(svc.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := auditv1.NewAuditServiceClient(conn)
	hc := &http.Client{Timeout: 10 * time.Second}
	base := "http://" + svc.HTTPAddr()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err := hc.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("audit service not ready in 10 s")
		}
	}

	types := []auditv1.EventType{auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED,
		auditv1.EventType_EVENT_TYPE_TOOL_CALL_FAILED, auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED, auditv1.EventType_EVENT_TYPE_RESOURCE_ACCESS}
	var batch []*auditv1.Event
	for i := range 40 {
		args, err := structpb.NewStruct(map[string]any{"q": fmt.Sprintf("<%d>\u2028😀\x01\"\\", i), "e\u0301": 1e21, "\ue000": 5e-324,
			"neg": math.Copysign(0, -1), "l": []any{0.1, nil, map[string]any{}}})
		if err != nil {
			t.Fatal(err)
		}
		batch = append(batch, &auditv1.Event{EventType: types[i%5], SessionId: fmt.Sprintf("s%d", i%3), CorrelationId: "c",
			Tool: "t", Arguments: args, BytesIn: uint64(i), DurationMs: float64(i) / 3, ErrorMessage: map[bool]string{true: "x"}[i%4 == 0],
			ResourceUri: "osiris://r", Operation: "read"})
	}
	if _, err := client.AppendBatch(ctx, &auditv1.AppendBatchRequest{Events: batch[:25]}); err != nil {
		t.Fatal(err)
	}
	for _, e := range batch[25:] {
		if _, err := client.Append(ctx, &auditv1.AppendRequest{Event: e}); err != nil {
			t.Fatal(err)
		}
	}

	var hashes [][]byte
	for req := (&auditv1.ListEventsRequest{PageSize: 1000}); ; {
		resp, err := client.ListEvents(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEvents() {
			h, err := leaf.Hash(e)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, h)
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if len(hashes) != len(batch) {
		t.Fatalf("listed %d events, appended %d", len(hashes), len(batch))
	}
	s, vkey := newSigner(t, "osiris-audit")
	dir := t.TempDir()
	checkpoint, key := filepath.Join(dir, "checkpoint"), filepath.Join(dir, "key.pub")
	write := func(p string, b []byte) {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(checkpoint, sign(t, s, signing.CheckpointText(s.Name(), uint64(len(hashes)), root(t, hashes))))
	write(key, []byte(vkey+"\n"))

	for _, tt := range []struct{ query, want string }{
		{"", "OK: 40 events reproduce the root of checkpoint osiris-audit size 40"},
		{"?sessionId=s1", "FAIL: line 1: seq 2 where 1 belongs"},
	} {
		resp, err := hc.Get(base + "/v1/audit/events:export" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("export%s: status %d, %v", tt.query, resp.StatusCode, err)
		}
		export := filepath.Join(dir, "export.jsonl")
		write(export, body)
		for name, run := range map[string]verifier{"go": goVerifier, "js": nodeVerifier} {
			if code, out := run(t, export, checkpoint, key); !strings.HasPrefix(out, tt.want) || (code == 0) != strings.HasPrefix(tt.want, "OK") {
				t.Errorf("%s verifier on export%s: exit %d, %q; want %q", name, tt.query, code, out, tt.want)
			}
		}
	}
}
