package apierr

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestToStatus(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		code     codes.Code
		msg      string
		expected bool
	}{
		{"invalid", Invalid("tool: %d bytes, over the limit of %d", 300, 256), codes.InvalidArgument, "tool: 300 bytes, over the limit of 256", true},
		{"wrapped not found", fmt.Errorf("event 7: %w", NotFound("no event 7")), codes.NotFound, "event 7: no event 7", true},
		{"sentinel", fmt.Errorf("queue: %w", ErrResourceExhausted), codes.ResourceExhausted, "queue: resource exhausted", true},
		{"precondition", FailedPrecondition("state INIT, expected RUN"), codes.FailedPrecondition, "state INIT, expected RUN", true},
		{"exists", AlreadyExists("session x exists"), codes.AlreadyExists, "session x exists", true},
		{"unavailable", Unavailable("shutting down"), codes.Unavailable, "shutting down", true},
		{"data loss", DataLoss("audit log is corrupt at seq 5"), codes.DataLoss, "audit log is corrupt at seq 5", true},
		{"canceled", fmt.Errorf("wait: %w", context.Canceled), codes.Canceled, "request cancelled", true},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded", true},
		{"status passes", status.Error(codes.PermissionDenied, "no"), codes.PermissionDenied, "no", true},
		{"internal hides details", errors.New("badger: value log corrupt at /data/000001.vlog"), codes.Internal, "internal error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, known := ToStatus(tt.err)
			st := status.Convert(got)
			if st.Code() != tt.code || st.Message() != tt.msg || known != tt.expected {
				t.Fatalf("ToStatus(%v) = %v %q known=%v; want %v %q known=%v", tt.err, st.Code(), st.Message(), known, tt.code, tt.msg, tt.expected)
			}
		})
	}
	if got, known := ToStatus(nil); got != nil || !known {
		t.Fatalf("ToStatus(nil) = %v, %v", got, known)
	}
}
