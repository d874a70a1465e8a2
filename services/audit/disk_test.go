package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
)

// On a nearly full disk the service refuses appends with RESOURCE_EXHAUSTED and reports not
// ready instead of dying of SIGBUS in Badger's memory-mapped WAL, recovers by itself when
// space returns, and keeps every acknowledged event. The store lives on a small tmpfs.
func TestFullDiskRefusesWritesAndRecovers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root (CI runs as root)")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40M", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { // runs after the service's own cleanup has stopped it
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount: %v: %s", err, out)
		}
	})
	cfg := testConfig(filepath.Join(mnt, "audit"))
	cfg.Store = badgerdb.Options{MemTableSize: 1 << 20}
	cfg.MinFreeBytes = 8 << 20
	r := start(t, cfg)

	// Leave about 12 MiB free, so a few MiB of events reach the threshold.
	ballast := filepath.Join(mnt, "ballast")
	if err := os.WriteFile(ballast, make([]byte, int(free(t, mnt))-12<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	blob := make([]byte, 8<<10)
	rand.Read(blob)
	// Incompressible, so the store grows on disk as events arrive (tables are compressed), and
	// hex, which redaction keeps (a long base64 run would be masked as a likely key).
	args := map[string]any{"blob": hex.EncodeToString(blob)}
	acked := 0
	var refused error
	for i := 0; refused == nil; i++ {
		if i == 2000 {
			t.Fatalf("%d appends (about %d MiB) accepted on a disk with 12 MiB free", i, i*16>>10)
		}
		_, err := r.client.Append(context.Background(), &auditv1.AppendRequest{Event: event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, "s", "", "t", args)})
		if err != nil {
			refused = err
			break
		}
		acked++
	}
	t.Logf("refused after %d appends", acked)
	if status.Code(refused) != codes.ResourceExhausted || !strings.Contains(refused.Error(), "disk almost full") {
		t.Fatalf("append on a full disk: %v, want RESOURCE_EXHAUSTED saying the disk is almost full", refused)
	}
	if code, err := httpGet("http://" + r.svc.HTTPAddr() + "/readyz"); err != nil || code != 503 {
		t.Fatalf("/readyz on a full disk: %d %v, want 503", code, err)
	}
	h, err := healthpb.NewHealthClient(r.conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("gRPC health on a full disk: %v %v, want NOT_SERVING", h.GetStatus(), err)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+r.svc.HTTPAddr()+"/readyz") // the guard looks every second
	mustAppend(t, r.client, event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_STARTED, "s", "", "t", nil))
	acked++

	t.Log("recovered")
	r.stop(t)
	r = start(t, cfg)
	t.Log("restarted")
	if got := listAll(t, r.client, &auditv1.ListEventsRequest{}); len(got) != acked {
		t.Fatalf("after restart %d events, want the %d acknowledged", len(got), acked)
	}
	mustVerify(t, r.client, uint64(acked))
}

func free(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Bsize
}
