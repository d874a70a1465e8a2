package session_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
)

// STATE-008: the original fell back to another session path when the one it wanted was not
// usable, and did not persist that choice consistently, so what a caller was told about its
// session and what was stored disagreed. Here a session exists only once the writer has
// committed it, and the reply is built from what was committed: an unusable id is refused,
// never replaced, and a taken id has exactly one owner. Goroutines create sessions at once
// (server-chosen ids, caller ids, invalid ids, and the same id from several callers); after a
// restart the store holds exactly the acknowledged sessions, each equal to its reply.
func TestSTATE008AcknowledgedSessionsAreExactlyWhatIsStored(t *testing.T) {
	dir := t.TempDir()
	r := start(t, testConfig(dir))

	invalid := []string{"has space", "tab\tid", "nul\x00id", "caf\xc3\xa9", strings.Repeat("x", 129), "\x7f"}
	var mu sync.Mutex
	acked := map[string]*sessionv1.Session{}
	contested := map[string]int{} // caller id -> acknowledged creations
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 40 {
				req := &sessionv1.CreateSessionRequest{Labels: map[string]string{"worker": fmt.Sprint(w), "i": fmt.Sprint(i)}}
				switch i % 4 {
				case 1:
					req.Id = fmt.Sprintf("chat_%d_%d", w, i)
				case 2:
					req.Id = invalid[(w+i)%len(invalid)]
				case 3:
					req.Id = fmt.Sprintf("contested_%d", i) // every worker asks for it
				}
				s, err := r.client.CreateSession(context.Background(), req)
				mu.Lock()
				switch {
				case i%4 == 2:
					if status.Code(err) != codes.InvalidArgument {
						t.Errorf("invalid id %q: got %v (session %v), want InvalidArgument", req.Id, err, s)
					}
				case i%4 == 3 && status.Code(err) == codes.AlreadyExists:
				case err != nil:
					t.Errorf("create %q: %v", req.Id, err)
				default:
					if req.Id != "" && s.GetId() != req.Id {
						t.Errorf("asked for id %q, was given %q", req.Id, s.GetId())
					}
					if _, dup := acked[s.GetId()]; dup {
						t.Errorf("id %q acknowledged twice", s.GetId())
					}
					acked[s.GetId()] = s
					if i%4 == 3 {
						contested[req.Id]++
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for id, n := range contested {
		if n != 1 {
			t.Errorf("id %q was acknowledged to %d callers, want exactly 1", id, n)
		}
	}
	if want := 16*20 + 10; len(acked) != want {
		t.Errorf("%d sessions acknowledged, want %d", len(acked), want)
	}

	r.stop(t)
	r = start(t, testConfig(dir))
	stored := map[string]*sessionv1.Session{}
	req := &sessionv1.ListSessionsRequest{PageSize: 100}
	for {
		resp, err := r.client.ListSessions(context.Background(), req)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, s := range resp.GetSessions() {
			stored[s.GetId()] = s
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	for id, want := range acked {
		if got, ok := stored[id]; !ok {
			t.Errorf("acknowledged session %q is not stored", id)
		} else if !proto.Equal(got, want) {
			t.Errorf("session %q: stored %v, acknowledged %v", id, got, want)
		}
	}
	for id := range stored {
		if _, ok := acked[id]; !ok {
			t.Errorf("session %q is stored but was never acknowledged", id)
		}
	}
}
