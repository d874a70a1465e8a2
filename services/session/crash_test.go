package session_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/platform/badgerdb"
	"github.com/osirisplane/osiris/platform/childtest"
	"github.com/osirisplane/osiris/services/session"
	"github.com/osirisplane/osiris/services/session/internal/badgerstore"
)

const (
	childEnv       = "OSIRIS_SESSION_TEST_CHILD_DIR"
	childOffsetEnv = "OSIRIS_SESSION_TEST_CLOCK_OFFSET"
)

// runChild is the test binary acting as a service process: it serves dir with a clock that
// runs childOffsetEnv ahead of the real one and a sweeper every 50 ms, prints its addresses,
// then runs until it is killed.
func runChild(dir string) int {
	offset, err := time.ParseDuration(os.Getenv(childOffsetEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: bad clock offset:", err)
		return 1
	}
	cfg := testConfig(dir)
	cfg.SweepInterval = 50 * time.Millisecond
	cfg.Now = func() time.Time { return time.Now().Add(offset) }
	svc, err := session.New(cfg, quietLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	childtest.Announce(svc.GRPCAddr(), svc.HTTPAddr())
	if err := svc.Run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

type child struct {
	proc     *childtest.Child
	conn     *grpc.ClientConn
	client   sessionv1.SessionServiceClient
	httpAddr string
}

func startChild(t *testing.T, dir string, offset time.Duration) *child {
	t.Helper()
	proc := childtest.Start(t, childEnv+"="+dir, childOffsetEnv+"="+offset.String())
	if len(proc.Addrs) != 2 {
		proc.Kill(t)
		t.Fatalf("child announced %v, want gRPC and HTTP addresses", proc.Addrs)
	}
	conn, err := grpc.NewClient(proc.Addrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, "http://"+proc.Addrs[1]+"/readyz")
	return &child{proc: proc, conn: conn, client: sessionv1.NewSessionServiceClient(conn), httpAddr: proc.Addrs[1]}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	c.proc.Kill(t) // SIGKILL: no shutdown code runs
	c.conn.Close()
}

type ackedWrite struct {
	session, key string
	value        map[string]any
	version      int64
}

// A child process serves sessions under SetValue load from 16 clients and is killed with
// SIGKILL at a random moment, three times. After each restart every acknowledged write is
// there with the version it was acknowledged with. Then the service restarts with its clock
// an hour on: the session created with a 10-minute idle TTL before the crashes is gone, and
// the restarted sweeper removes every key it owned, while the others (2 h idle TTL) live on.
func TestCrashKill9KeepsAcknowledgedWritesAndExpiriesStillHappen(t *testing.T) {
	dir := t.TempDir()
	var (
		mu    sync.Mutex
		acked []ackedWrite
	)
	for round := range 3 {
		c := startChild(t, dir, 0)
		checkAcked(t, c.client, acked)
		if round == 0 {
			mustCreate(t, c.client, &sessionv1.CreateSessionRequest{Id: "doomed", IdleTtl: ttl(10 * time.Minute)})
			mustSet(t, c.client, "doomed", "plan", value(map[string]any{"step": 1}), -1)
			mustTransition(t, c.client, "doomed", sIntent)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 16 {
			id := fmt.Sprintf("crash-r%d-w%d", round, w)
			mustCreate(t, c.client, &sessionv1.CreateSessionRequest{Id: id, IdleTtl: ttl(2 * time.Hour)})
			wg.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					key, v := fmt.Sprintf("k%d", i), map[string]any{"w": w, "i": i, "round": round}
					resp, err := c.client.SetValue(ctx, &sessionv1.SetValueRequest{SessionId: id, Key: key, Value: value(v)})
					if err != nil {
						return // the process died under us: this one was never acknowledged
					}
					mu.Lock()
					acked = append(acked, ackedWrite{id, key, v, resp.GetVersion()})
					mu.Unlock()
				}
			})
		}
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		c.kill(t)
		cancel()
		wg.Wait()
		t.Logf("round %d: %d acknowledged writes so far", round, len(acked))
	}
	if len(acked) == 0 {
		t.Fatal("no write was acknowledged: the test proved nothing")
	}

	c := startChild(t, dir, time.Hour)
	checkAcked(t, c.client, acked)
	_, err := c.client.GetSession(context.Background(), &sessionv1.GetSessionRequest{Id: "doomed"})
	if status.Code(err) != codes.NotFound {
		t.Fatalf("doomed session an hour after its last use: %v, want NotFound", err)
	}
	waitMetric(t, c.httpAddr, "osiris_session_expired_total", 1)
	c.kill(t)

	db, err := badgerdb.Open(dir, badgerdb.Options{}, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().Key()
			if bytes.HasPrefix(k, badgerstore.Group("doomed")) || bytes.HasSuffix(k, []byte("doomed")) {
				return fmt.Errorf("key %q of the expired session is still stored", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkAcked(t *testing.T, client sessionv1.SessionServiceClient, acked []ackedWrite) {
	t.Helper()
	for _, a := range acked {
		got, err := client.GetValue(context.Background(), &sessionv1.GetValueRequest{SessionId: a.session, Key: a.key})
		if err != nil {
			t.Fatalf("acknowledged write %s/%s lost: %v", a.session, a.key, err)
		}
		if got.GetVersion() != a.version || !proto.Equal(got.GetValue(), value(a.value)) {
			t.Fatalf("%s/%s = %v at version %d, acknowledged %v at %d", a.session, a.key, got.GetValue(), got.GetVersion(), a.value, a.version)
		}
	}
}
