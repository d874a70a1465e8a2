package telemetry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/childtest"
	"github.com/osirisplane/osiris/services/telemetry"
)

const childEnv = "OSIRIS_TELEMETRY_TEST_CHILD_DIR"

// runChild is the test binary acting as a service process: it serves dir and prints its
// gRPC address, then runs until it is killed.
func runChild(dir string) int {
	svc, err := telemetry.New(testConfig(dir), quietLog())
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
	client telemetryv1.TelemetryServiceClient
}

func startChild(t *testing.T, dir string) *child {
	t.Helper()
	proc := childtest.Start(t, childEnv+"="+dir)
	conn, err := grpc.NewClient(proc.Addrs[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	return &child{proc: proc, conn: conn, client: telemetryv1.NewTelemetryServiceClient(conn)}
}

func (c *child) kill(t *testing.T) {
	t.Helper()
	c.proc.Kill(t) // SIGKILL: no shutdown code runs
	c.conn.Close()
}

// crashCall is a call with a unique correlation id whose numbers derive from it.
func crashCall(round, w, i int) *telemetryv1.ToolCall {
	status := telemetryv1.CallStatus_CALL_STATUS_OK
	if i%7 == 0 {
		status = telemetryv1.CallStatus_CALL_STATUS_ERROR
	}
	return &telemetryv1.ToolCall{
		SessionId:     fmt.Sprintf("s%d", w%4),
		CorrelationId: fmt.Sprintf("r%d/w%d/i%d", round, w, i),
		Tool:          fmt.Sprintf("tool%d", i%3),
		Status:        status,
		DurationMs:    float64(i%50) + 0.25,
		BytesIn:       uint64(10 + i%100),
		BytesOut:      uint64(w + 1),
	}
}

// crashBatch is how many calls the batch-sending clients of the crash test send at once.
const crashBatch = 10

// A child process records calls under load from 16 clients (half of them sending batches of
// crashBatch) and is killed with SIGKILL at a random moment, four times in a row. After each
// restart every acknowledged call is stored, nothing is stored that was never sent, and the
// totals (global, per session, per tool) are exactly the sums over the stored calls:
// acknowledged calls plus the few whose reply the kill cut off after their commit. Then every
// call not acknowledged is sent again, as a sender that cannot know does: thanks to the
// correlation ids, those whose commit survived are not counted twice, and in the end every
// call sent is stored exactly once.
func TestCrashKill9TotalsEqualStoredAndKeepEveryAcknowledgedCall(t *testing.T) {
	dir := t.TempDir()
	sent := map[string]*telemetryv1.ToolCall{}
	acked := map[string]bool{}
	var mu sync.Mutex
	send := func(ctx context.Context, client telemetryv1.TelemetryServiceClient, calls []*telemetryv1.ToolCall) error {
		mu.Lock()
		for _, c := range calls {
			sent[c.GetCorrelationId()] = c
		}
		mu.Unlock()
		var err error
		if len(calls) == 1 {
			_, err = client.RecordToolCall(ctx, &telemetryv1.RecordToolCallRequest{Call: calls[0]})
		} else {
			_, err = client.RecordToolCalls(ctx, &telemetryv1.RecordToolCallsRequest{Calls: calls})
		}
		if err != nil {
			return err // the process died under us: these were never acknowledged
		}
		mu.Lock()
		for _, c := range calls {
			acked[c.GetCorrelationId()] = true
		}
		mu.Unlock()
		return nil
	}
	for round := range 4 {
		c := startChild(t, dir)
		checkCrashState(t, c.client, sent, acked)
		resendUnacknowledged(t, c.client, sent, acked, send)

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				size := 1
				if w%2 == 0 {
					size = crashBatch
				}
				for i := 0; ctx.Err() == nil; i += size {
					calls := make([]*telemetryv1.ToolCall, size)
					for k := range calls {
						calls[k] = crashCall(round, w, i+k)
					}
					if send(ctx, c.client, calls) != nil {
						return
					}
				}
			})
		}
		time.Sleep(time.Duration(150+rand.IntN(350)) * time.Millisecond)
		c.kill(t)
		cancel()
		wg.Wait()
		t.Logf("round %d: %d calls acknowledged so far", round, len(acked))
	}
	c := startChild(t, dir)
	defer c.kill(t)
	checkCrashState(t, c.client, sent, acked)
	if len(acked) == 0 {
		t.Fatal("no call was acknowledged: the test proved nothing")
	}
	resendUnacknowledged(t, c.client, sent, acked, send)
	if n := checkCrashState(t, c.client, sent, acked); n != len(sent) {
		t.Fatalf("%d calls stored after every call was resent until acknowledged, %d sent", n, len(sent))
	}
}

// resendUnacknowledged sends every call of sent that is not acknowledged again, in batches.
func resendUnacknowledged(t *testing.T, client telemetryv1.TelemetryServiceClient, sent map[string]*telemetryv1.ToolCall, acked map[string]bool,
	send func(context.Context, telemetryv1.TelemetryServiceClient, []*telemetryv1.ToolCall) error) {
	t.Helper()
	var batch []*telemetryv1.ToolCall
	flush := func() {
		if len(batch) > 0 {
			if err := send(context.Background(), client, batch); err != nil {
				t.Fatalf("resend %d calls: %v", len(batch), err)
			}
			batch = nil
		}
	}
	n := 0
	for id, c := range sent {
		if acked[id] {
			continue
		}
		batch = append(batch, c)
		n++
		if len(batch) == 100 {
			flush()
		}
	}
	flush()
	t.Logf("resent %d unacknowledged calls", n)
}

// checkCrashState checks the stored calls and the totals against what was sent and
// acknowledged, and returns how many calls are stored.
func checkCrashState(t *testing.T, client telemetryv1.TelemetryServiceClient, sent map[string]*telemetryv1.ToolCall, acked map[string]bool) int {
	t.Helper()
	stored := listAll(t, client, &telemetryv1.ListToolCallsRequest{PageSize: 1000})
	var global totals
	perSession, perTool := map[string]totals{}, map[string]totals{}
	seen := map[string]bool{}
	for _, c := range stored {
		id := c.GetCorrelationId()
		want, ok := sent[id]
		if !ok || seen[id] {
			t.Fatalf("stored call %s was never sent, or is stored twice", id)
		}
		seen[id] = true
		if want.GetBytesIn() != c.GetBytesIn() || want.GetDurationMs() != c.GetDurationMs() || want.GetTool() != c.GetTool() {
			t.Fatalf("stored call %s differs from the one sent: %v vs %v", id, c, want)
		}
		global = global.add(c)
		perSession[c.GetSessionId()] = perSession[c.GetSessionId()].add(c)
		perTool[c.GetTool()] = perTool[c.GetTool()].add(c)
	}
	for id := range acked {
		if !seen[id] {
			t.Fatalf("acknowledged call %s was lost", id)
		}
	}
	if got := totalsOf(mustSummary(t, client, &telemetryv1.GetSummaryRequest{})); got != global {
		t.Fatalf("totals %+v, but the stored calls add up to %+v", got, global)
	}
	for s, want := range perSession {
		if got := totalsOf(mustSummary(t, client, &telemetryv1.GetSummaryRequest{SessionId: s})); got != want {
			t.Fatalf("session %s totals %+v, stored calls add up to %+v", s, got, want)
		}
	}
	for tool, want := range perTool {
		if got := totalsOf(mustSummary(t, client, &telemetryv1.GetSummaryRequest{Tool: tool})); got != want {
			t.Fatalf("tool %s totals %+v, stored calls add up to %+v", tool, got, want)
		}
	}
	t.Logf("%d stored, %d acknowledged", len(stored), len(acked))
	return len(stored)
}
