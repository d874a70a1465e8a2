package audit_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
)

// A refused batch names the refused event's index in BadRequest details, so a client that
// batches many callers' events drops that one and resends the rest, with no need to split.
func TestAppendBatchNamesTheRefusedEvent(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxArgumentsBytes = 4096
	r := start(t, cfg)
	big, _ := structpb.NewStruct(map[string]any{"blob": strings.Repeat("x", 5000)})
	for _, tt := range []struct {
		name string
		at   int
		bad  func(*auditv1.Event)
		code codes.Code
	}{
		{"invalid tool", 3, func(e *auditv1.Event) { e.Tool = strings.Repeat("t", 257) }, codes.InvalidArgument},
		{"no type", 0, func(e *auditv1.Event) { e.EventType = 0 }, codes.InvalidArgument},
		{"arguments over the limit", 6, func(e *auditv1.Event) { e.Arguments = big }, codes.ResourceExhausted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			events := make([]*auditv1.Event, 8)
			for i := range events {
				events[i] = event(started, "s", fmt.Sprintf("c%d", i), "tool", nil)
			}
			tt.bad(events[tt.at])
			_, err := r.client.AppendBatch(context.Background(), &auditv1.AppendBatchRequest{Events: events})
			want := fmt.Sprintf("events[%d]", tt.at)
			v := apierr.FieldViolations(err)
			if status.Code(err) != tt.code || len(v) != 1 || v[0].GetField() != want || !strings.HasPrefix(v[0].GetDescription(), want) {
				t.Fatalf("err = %v, violations %v; want %v naming %s", err, v, tt.code, want)
			}
		})
	}
	mustVerify(t, r.client, 0)
}
