package audit_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/services/audit/internal/logtree"
	"github.com/osirisplane/osiris/services/audit/internal/verify"
)

// A child process checkpoints every 10ms while 8 clients append, and is killed with SIGKILL at
// a random moment (often mid-checkpoint: signing, storing or publishing), five times. After each
// restart the service starts (the published checkpoint is consistent with the store), the tree
// recomputed from the events matches the newest stored checkpoint (VerifyChain) and the
// published one, and every acknowledged append is there.
func TestCrashKill9MidCheckpointKeepsTreeCheckpointsAndEventsInAgreement(t *testing.T) {
	dir, published := t.TempDir(), t.TempDir()
	skey, vkey, err := note.GenerateKey(rand.Reader, "crash-log")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "log.key")
	if err := os.WriteFile(keyFile, []byte(skey), 0o600); err != nil {
		t.Fatal(err)
	}
	env := checkpointEnv + "=" + keyFile + " " + published
	acked := map[uint64][]byte{}
	var mu sync.Mutex
	checkpoints := 0
	for round := range 6 {
		c := startChild(t, dir, env)
		checkAcked(t, c.client, acked)
		if n := checkPublished(t, c.client, vkey, filepath.Join(published, "checkpoint")); n > 0 {
			checkpoints++
		}
		if round == 5 {
			c.kill(t)
			break
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, "ckpt", fmt.Sprintf("r%d/%s", round, key(w, i)), "t", nil)
					resp, err := c.client.Append(ctx, &auditv1.AppendRequest{Event: e})
					if err != nil {
						return
					}
					mu.Lock()
					acked[resp.GetSeq()] = resp.GetHash()
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(100+mrand.IntN(300)) * time.Millisecond)
		c.kill(t)
		cancel()
		wg.Wait()
	}
	if len(acked) == 0 || checkpoints == 0 {
		t.Fatalf("%d appends acknowledged, %d restarts saw a published checkpoint: the test proved nothing", len(acked), checkpoints)
	}
}

// checkPublished verifies the published checkpoint's signature and that its root is the root
// of the first size events as the service serves them; it returns the size (0: none yet).
func checkPublished(t *testing.T, c auditv1.AuditServiceClient, vkey, file string) uint64 {
	t.Helper()
	msg, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	cp, err := verify.OpenCheckpoint(msg, vkey)
	if err != nil {
		t.Fatalf("published checkpoint: %v", err)
	}
	tree := logtree.NewVerifier()
	var token string
	for tree.Size() < cp.Size {
		page, err := c.ListEvents(context.Background(), &auditv1.ListEventsRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page.GetEvents() {
			if tree.Size() < cp.Size {
				if err := tree.Append(e.GetHash()); err != nil {
					t.Fatal(err)
				}
			}
		}
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	root, _ := tree.Root()
	if tree.Size() != cp.Size || !bytes.Equal(root, cp.Root) {
		t.Fatalf("published checkpoint of size %d has root %x; the served events give %x over %d", cp.Size, cp.Root, root, tree.Size())
	}
	return cp.Size
}
