package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"google.golang.org/grpc"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

type batchRecorder struct {
	auditv1.AuditServiceClient
	requests [][]*auditv1.Event
}

func (b *batchRecorder) AppendBatch(_ context.Context, req *auditv1.AppendBatchRequest, _ ...grpc.CallOption) (*auditv1.AppendBatchResponse, error) {
	b.requests = append(b.requests, req.GetEvents())
	return &auditv1.AppendBatchResponse{}, nil
}

// One interval's refusals from more sources than are counted apart make at most
// maxRefusalSources events plus one "other" per reason, and every refusal is counted.
func TestRefusalSourcesAreBounded(t *testing.T) {
	rec := &batchRecorder{}
	r := newRefusals(rec, time.Second, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const sources = maxRefusalSources + 50
	for i := range sources {
		req := httptest.NewRequest("POST", "/mcp", nil)
		req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:4000", i/256, i%256)
		r.add(req, refusedNoToken)
		r.add(req, refusedWrongToken)
	}
	r.flush()
	r.flush() // nothing new: no request
	if len(rec.requests) != 1 {
		t.Fatalf("%d AppendBatch requests, want 1", len(rec.requests))
	}
	events := rec.requests[0]
	counted, other := 0.0, 0
	for _, e := range events {
		f := e.GetArguments().GetFields()
		counted += f["count"].GetNumberValue()
		if f["source"].GetStringValue() == "other" {
			other++
		}
		if e.GetSessionId() != "" || e.GetEventType() != auditv1.EventType_EVENT_TYPE_TOOL_CALL_REJECTED {
			t.Fatalf("refusal event %v", e)
		}
	}
	if len(events) > maxRefusalSources+2 || other != 2 || counted != 2*sources {
		t.Fatalf("%d events (%d for other sources) counting %v refusals; want at most %d events counting %d", len(events), other, counted, maxRefusalSources+2, 2*sources)
	}
}
