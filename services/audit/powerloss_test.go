package audit_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/faultfs"
)

// Power-loss rounds and load. The child runs with a 64 KiB memtable, so its WAL rotates every
// few hundred appends and cuts fall near rotations (the race that the old sync-behind design
// lost); cuts early in a round also fall in the start-up flush of the WAL replayed from the
// round before (a new table, a MANIFEST change, the old WAL deleted).
const (
	powerCuts    = 10
	appenders    = 16
	powerLossMem = "65536"
)

// The audit service runs in a child process on a filesystem that keeps only what was synced.
// Appenders write until a random moment; then the power is cut (nothing reaches the disk any
// more), the child is killed, and the filesystem is unmounted with every unsynced write and
// name change dropped. The service restarts on what survived: every acknowledged event must be
// there with the hash it was acknowledged with (VerifyChain recomputes each hash from the
// event's content), and the chain must verify.
func TestPowerLossKeepsEveryAcknowledgedAppend(t *testing.T) {
	if err := faultfs.Supported(); err != nil {
		t.Skip(err)
	}
	root := t.TempDir()
	disk, mnt := filepath.Join(root, "disk"), filepath.Join(root, "mnt")
	for _, d := range []string{disk, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	acked, fresh := map[uint64][]byte{}, map[uint64][]byte{}
	var mu sync.Mutex
	for round := range powerCuts {
		fs := mountDisk(t, disk, mnt)
		c := startChild(t, filepath.Join(mnt, "audit"), memTableEnv+"="+powerLossMem)
		checkSurvivors(t, c, fresh, round)
		fresh = map[uint64][]byte{} // older events are checked once more at the end
		start := time.Now()

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range appenders {
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					e := event(auditv1.EventType_EVENT_TYPE_TOOL_CALL_COMPLETED, "power", fmt.Sprintf("r%d/%s", round, key(w, i)), "t", map[string]any{"i": i})
					resp, err := c.client.Append(ctx, &auditv1.AppendRequest{Event: e})
					if err != nil {
						return // the power went or the child died: never acknowledged
					}
					mu.Lock()
					acked[resp.GetSeq()], fresh[resp.GetSeq()] = resp.GetHash(), resp.GetHash()
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(50+rand.IntN(750)) * time.Millisecond)
		fs.Cut()
		c.kill(t)
		cancel()
		wg.Wait()
		if err := fs.Unmount(); err != nil {
			t.Fatal(err)
		}
		st := fs.Stats()
		wals := countFiles(t, filepath.Join(disk, "audit"), ".mem")
		t.Logf("round %d: %d appends acknowledged in %v (%d in all); %d writes, %d file syncs, %d directory syncs reached the filesystem; WAL files now %d",
			round, len(fresh), time.Since(start).Round(time.Millisecond), len(acked), st.Writes, st.FileSyncs, st.DirSyncs, wals)
	}
	mountDisk(t, disk, mnt)
	c := startChild(t, filepath.Join(mnt, "audit"), memTableEnv+"="+powerLossMem)
	checkSurvivors(t, c, acked, powerCuts)
	c.kill(t)
	if len(acked) == 0 {
		t.Fatal("no append was acknowledged: the test proved nothing")
	}
	t.Logf("%d power cuts: all %d acknowledged events survived, the chain verifies", powerCuts, len(acked))
}

// mountDisk mounts the fault filesystem; a test that fails leaves it unmounted (after killing
// the child, which startChild's caller does first: cleanups run last-registered first).
func mountDisk(t *testing.T, disk, mnt string) *faultfs.FS {
	t.Helper()
	fs, err := faultfs.Mount(disk, mnt, faultfs.Options{OrderedMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Unmount() })
	return fs
}

// countLost counts the acknowledged events missing or changed; a broken chain is an error.
func countLost(client auditv1.AuditServiceClient, acked map[uint64][]byte) (int, error) {
	v, err := client.VerifyChain(context.Background(), &auditv1.VerifyChainRequest{})
	if err != nil {
		return 0, err
	}
	if !v.GetOk() {
		return 0, fmt.Errorf("chain broken at seq %d: %s", v.GetFirstBadSeq(), v.GetReason())
	}
	lost := 0
	for seq, hash := range acked {
		e, err := client.GetEvent(context.Background(), &auditv1.GetEventRequest{Seq: seq})
		if err != nil || string(e.GetHash()) != string(hash) {
			lost++
		}
	}
	return lost, nil
}

// checkSurvivors fails the test, killing the child first so the filesystem can be unmounted,
// if an acknowledged event is missing or the chain is broken.
func checkSurvivors(t *testing.T, c *child, acked map[uint64][]byte, cuts int) {
	t.Helper()
	lost, err := countLost(c.client, acked)
	if err != nil || lost > 0 {
		c.kill(t)
		t.Fatalf("after %d power cuts: %d of %d acknowledged events lost or changed; chain: %v", cuts, lost, len(acked), err)
	}
}

// countFiles counts the files in dir whose names end in suffix.
func countFiles(t *testing.T, dir, suffix string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			n++
		}
	}
	return n
}
