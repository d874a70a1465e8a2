// Package grpcapi translates AuditService requests into ledger calls and back. Validation of
// events lives in the ledger, so every path into the log gets it; errors are mapped to status
// codes by the serving platform's interceptors.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/protobuf/types/known/timestamppb"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/audit/internal/jsonl"
	"github.com/osirisplane/osiris/services/audit/internal/ledger"
)

// Server implements auditv1.AuditServiceServer.
type Server struct {
	auditv1.UnimplementedAuditServiceServer
	ledger   *ledger.Ledger
	proofs   proofLog
	draining <-chan struct{}
}

// New serves l. Tails end when draining is closed, so shutdown does not wait for them.
func New(l *ledger.Ledger, draining <-chan struct{}) *Server {
	return &Server{ledger: l, proofs: l, draining: draining}
}

// Append implements AuditService.Append.
func (s *Server) Append(ctx context.Context, req *auditv1.AppendRequest) (*auditv1.AppendResponse, error) {
	r, err := s.ledger.Append(ctx, req.GetEvent())
	if err != nil {
		return nil, err
	}
	return receipt(r), nil
}

// AppendBatch implements AuditService.AppendBatch.
func (s *Server) AppendBatch(ctx context.Context, req *auditv1.AppendBatchRequest) (*auditv1.AppendBatchResponse, error) {
	rs, err := s.ledger.AppendBatch(ctx, req.GetEvents())
	if err != nil {
		return nil, err
	}
	out := &auditv1.AppendBatchResponse{Receipts: make([]*auditv1.AppendResponse, len(rs))}
	for i, r := range rs {
		out.Receipts[i] = receipt(r)
	}
	return out, nil
}

// receipt is r as a reply: the leaf hash twice, since hash is what clients older than
// leaf_hash read.
func receipt(r ledger.Receipt) *auditv1.AppendResponse {
	return &auditv1.AppendResponse{Seq: r.Seq, Hash: r.Hash, LeafHash: r.Hash}
}

// ListEvents implements AuditService.ListEvents.
func (s *Server) ListEvents(ctx context.Context, req *auditv1.ListEventsRequest) (*auditv1.ListEventsResponse, error) {
	f, err := filter(req.GetSessionId(), req.GetCorrelationId(), req.GetTool(), req.GetEventType(), req.GetSince(), req.GetUntil())
	if err != nil {
		return nil, err
	}
	events, next, err := s.ledger.List(ctx, f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &auditv1.ListEventsResponse{Events: events, NextPageToken: next}, nil
}

// GetEvent implements AuditService.GetEvent.
func (s *Server) GetEvent(ctx context.Context, req *auditv1.GetEventRequest) (*auditv1.Event, error) {
	return s.ledger.Get(ctx, req.GetSeq())
}

// TailEvents implements AuditService.TailEvents. It ends with UNAVAILABLE when the server
// shuts down; a client resumes with after_seq set to the last seq it saw.
func (s *Server) TailEvents(req *auditv1.TailEventsRequest, stream auditv1.AuditService_TailEventsServer) error {
	f, err := filter(req.GetSessionId(), req.GetCorrelationId(), req.GetTool(), req.GetEventType(), nil, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	go func() {
		select {
		case <-s.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	err = s.ledger.Tail(ctx, f, req.GetAfterSeq(), stream.Send)
	select {
	case <-s.draining:
		return apierr.Unavailable("audit service is shutting down; resume with after_seq")
	default:
		return err
	}
}

// VerifyChain implements AuditService.VerifyChain.
func (s *Server) VerifyChain(ctx context.Context, _ *auditv1.VerifyChainRequest) (*auditv1.VerifyChainResponse, error) {
	v, err := s.ledger.Verify(ctx)
	if err != nil {
		return nil, err
	}
	return &auditv1.VerifyChainResponse{Ok: v.OK, Checked: v.Checked, FirstBadSeq: v.FirstBadSeq, HeadHash: v.HeadHash, Reason: v.Reason}, nil
}

// ExportEvents implements AuditService.ExportEvents: one JSONL line per message. Over REST
// the gateway ends each message with a newline, which makes the body a JSONL file.
func (s *Server) ExportEvents(req *auditv1.ExportEventsRequest, stream auditv1.AuditService_ExportEventsServer) error {
	f, err := filter(req.GetSessionId(), req.GetCorrelationId(), req.GetTool(), req.GetEventType(), req.GetSince(), req.GetUntil())
	if err != nil {
		return err
	}
	return s.ledger.Export(stream.Context(), f, func(e *auditv1.Event) error {
		line, err := jsonl.Line(e)
		if err != nil {
			return err
		}
		return stream.Send(&httpbody.HttpBody{ContentType: "application/x-ndjson", Data: line})
	})
}

func filter(session, correlation, tool string, t auditv1.EventType, since, until *timestamppb.Timestamp) (ledger.Filter, error) {
	f := ledger.Filter{SessionID: session, CorrelationID: correlation, Tool: tool, Type: t}
	var err error
	if f.Since, err = optionalTime("since", since); err != nil {
		return f, err
	}
	if f.Until, err = optionalTime("until", until); err != nil {
		return f, err
	}
	return f, nil
}

func optionalTime(name string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, apierr.Invalid("%s: %v", name, err)
	}
	return ts.AsTime(), nil
}
