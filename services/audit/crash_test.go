package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/childtest"
	"github.com/osirisplane/osiris/services/audit"
)

const (
	childEnv = "OSIRIS_AUDIT_TEST_CHILD_DIR"
	// memTableEnv, when set, is the child's memtable size in bytes (a small one rotates often).
	memTableEnv = "OSIRIS_AUDIT_TEST_CHILD_MEMTABLE"
	// checkpointEnv, when set, is "KEYFILE PUBLISHDIR": the child signs with that key and
	// checkpoints every 10ms into that directory.
	checkpointEnv = "OSIRIS_AUDIT_TEST_CHILD_CHECKPOINTS"
)

// runChild is the test binary acting as a service process: it serves dir and prints its
// gRPC address, then runs until it is killed.
func runChild(dir string) int {
	cfg := testConfig(dir)
	if v := os.Getenv(memTableEnv); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", memTableEnv, err)
			return 1
		}
		cfg.Store.MemTableSize = n
	}
	if v := os.Getenv(checkpointEnv); v != "" {
		cfg.SigningKeyFile, cfg.CheckpointDir, _ = strings.Cut(v, " ")
		cfg.CheckpointInterval = 10 * time.Millisecond
	}
	svc, err := audit.New(cfg, quietLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	childtest.Announce(svc.GRPCAddr())
	if err := svc.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type child struct {
	proc   *childtest.Child
	conn   *grpc.ClientConn
	client auditv1.AuditServiceClient
}

func startChild(t *testing.T, dir string, env ...string) *child {
	t.Helper()
	proc := childtest.Start(t, append([]string{childEnv + "=" + dir}, env...)...)
	conn, err := grpc.NewClient(proc.Addrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return &child{proc: proc, conn: conn, client: auditv1.NewAuditServiceClient(conn)}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	c.proc.Kill(t) // SIGKILL: no shutdown code runs
	c.conn.Close()
}

// A child process serves the audit log under append load and is killed with SIGKILL at a
// random moment, five times in a row. After each restart every acknowledged append is there
// with the hash it was acknowledged with, and the whole chain verifies.
func TestCrashKill9KeepsEveryAcknowledgedAppend(t *testing.T) {
	dir := t.TempDir()
	acked := map[uint64][]byte{}
	var mu sync.Mutex
	rounds := 5
	for round := range rounds {
		c := startChild(t, dir)
		checkAcked(t, c.client, acked)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, "crash", fmt.Sprintf("r%d/%s", round, key(w, i)), "t", map[string]any{"i": i})
					resp, err := c.client.Append(ctx, &auditv1.AppendRequest{Event: e})
					if err != nil {
						return // the process died under us: this one was never acknowledged
					}
					mu.Lock()
					acked[resp.GetSeq()] = resp.GetHash()
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(100+rand.IntN(400)) * time.Millisecond)
		c.kill(t)
		cancel()
		wg.Wait()
		t.Logf("round %d: %d acknowledged appends so far", round, len(acked))
	}
	c := startChild(t, dir)
	defer c.kill(t)
	checkAcked(t, c.client, acked)
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged: the test proved nothing")
	}
}

func checkAcked(t *testing.T, client auditv1.AuditServiceClient, acked map[uint64][]byte) {
	t.Helper()
	v, err := client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !v.GetOk() {
		t.Fatalf("chain broken after restart at seq %d: %s", v.GetFirstBadSeq(), v.GetReason())
	}
	if v.GetChecked() < uint64(len(acked)) {
		t.Fatalf("log holds %d events, but %d were acknowledged", v.GetChecked(), len(acked))
	}
	for seq, hash := range acked {
		e, err := client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: seq})
		if err != nil {
			t.Fatalf("acknowledged seq %d lost: %v", seq, err)
		}
		if !bytes.Equal(e.GetHash(), hash) {
			t.Fatalf("seq %d: hash %x, acknowledged %x", seq, e.GetHash(), hash)
		}
	}
}
