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

// A field error keeps its kind and message and names the field in BadRequest details, which a
// client reads back with FieldViolations.
func TestToStatusNamesTheField(t *testing.T) {
	for _, tt := range []struct {
		err  error
		code codes.Code
	}{
		{AtField("events[3]", Invalid("events[3].tool is 300 bytes, over the limit of 256")), codes.InvalidArgument},
		{fmt.Errorf("batch: %w", AtField("events[7]", Exhausted("events[7].arguments is 2 MiB"))), codes.ResourceExhausted},
	} {
		got, known := ToStatus(tt.err)
		if st := status.Convert(got); st.Code() != tt.code || st.Message() != tt.err.Error() || !known {
			t.Fatalf("ToStatus(%v) = %v %q", tt.err, st.Code(), st.Message())
		}
		v := FieldViolations(got)
		want := map[codes.Code]string{codes.InvalidArgument: "events[3]", codes.ResourceExhausted: "events[7]"}[tt.code]
		if len(v) != 1 || v[0].GetField() != want || v[0].GetDescription() == "" {
			t.Fatalf("violations of %v: %v, want one naming %s", tt.err, v, want)
		}
	}
	if v := FieldViolations(status.Error(codes.InvalidArgument, "no details")); len(v) != 0 {
		t.Fatalf("violations of a plain status: %v", v)
	}
	if AtField("x", nil) != nil {
		t.Fatal("AtField(nil) is not nil")
	}
}
