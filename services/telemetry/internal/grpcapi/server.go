// Package grpcapi translates TelemetryService requests into recorder calls and back.
// Validation lives in the recorder, so every path into the store gets it; errors are mapped
// to status codes by the serving platform's interceptors.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	telemetryv1 "github.com/osirisplane/osiris/api/osiris/telemetry/v1"
	"github.com/osirisplane/osiris/platform/apierr"
	"github.com/osirisplane/osiris/services/telemetry/internal/aggregate"
	"github.com/osirisplane/osiris/services/telemetry/internal/recorder"
)

// Quantiles reported by GetSummary.
const (
	p50 = 0.50
	p95 = 0.95
	p99 = 0.99
)

// Server implements telemetryv1.TelemetryServiceServer.
type Server struct {
	telemetryv1.UnimplementedTelemetryServiceServer
	rec *recorder.Recorder
}

// New serves rec.
func New(rec *recorder.Recorder) *Server { return &Server{rec: rec} }

// RecordToolCall implements TelemetryService.RecordToolCall.
func (s *Server) RecordToolCall(ctx context.Context, req *telemetryv1.RecordToolCallRequest) (*telemetryv1.RecordToolCallResponse, error) {
	rec, err := s.rec.Record(ctx, req.GetCall())
	if err != nil {
		return nil, err
	}
	return &telemetryv1.RecordToolCallResponse{Seq: rec.Seq, Time: timestamppb.New(rec.Time), Duplicate: rec.Duplicate}, nil
}

// RecordToolCalls implements TelemetryService.RecordToolCalls.
func (s *Server) RecordToolCalls(ctx context.Context, req *telemetryv1.RecordToolCallsRequest) (*telemetryv1.RecordToolCallsResponse, error) {
	recs, err := s.rec.RecordBatch(ctx, req.GetCalls())
	if err != nil {
		return nil, err
	}
	out := &telemetryv1.RecordToolCallsResponse{Seqs: make([]uint64, len(recs))}
	for i, rec := range recs {
		out.Seqs[i] = rec.Seq
		if rec.Duplicate {
			out.Duplicates++
		} else {
			out.Recorded++
		}
	}
	return out, nil
}

// RecordServerEvent implements TelemetryService.RecordServerEvent.
func (s *Server) RecordServerEvent(ctx context.Context, req *telemetryv1.RecordServerEventRequest) (*telemetryv1.RecordServerEventResponse, error) {
	e, err := s.rec.RecordEvent(ctx, req.GetEvent())
	if err != nil {
		return nil, err
	}
	return &telemetryv1.RecordServerEventResponse{Seq: e.GetSeq(), Time: e.GetTime(), Totals: e.GetTotals()}, nil
}

// GetSummary implements TelemetryService.GetSummary.
func (s *Server) GetSummary(ctx context.Context, req *telemetryv1.GetSummaryRequest) (*telemetryv1.GetSummaryResponse, error) {
	q := recorder.SummaryQuery{Session: req.GetSessionId(), Tool: req.GetTool()}
	var err error
	if q.Since, err = optionalTime("since", req.GetSince()); err != nil {
		return nil, err
	}
	if q.Until, err = optionalTime("until", req.GetUntil()); err != nil {
		return nil, err
	}
	sum, err := s.rec.Summary(ctx, q)
	if err != nil {
		return nil, err
	}
	t := sum.Total
	out := &telemetryv1.GetSummaryResponse{
		ToolCalls: t.Calls, Errors: t.Errors, BytesIn: t.BytesIn, BytesOut: t.BytesOut, TotalDurationMs: t.DurationMs,
		P50Ms: t.Quantile(p50), P95Ms: t.Quantile(p95), P99Ms: t.Quantile(p99),
		ToolsTruncated: sum.ToolsTruncated,
		Since:          timestamp(sum.Since),
		Until:          timestamp(sum.Until),
	}
	for _, ts := range sum.Tools {
		out.Tools = append(out.Tools, toolSummary(ts.Tool, ts.Aggregate))
	}
	return out, nil
}

func toolSummary(tool string, a *aggregate.Aggregate) *telemetryv1.ToolSummary {
	return &telemetryv1.ToolSummary{
		Tool: tool, ToolCalls: a.Calls, Errors: a.Errors, BytesIn: a.BytesIn, BytesOut: a.BytesOut, TotalDurationMs: a.DurationMs,
		P50Ms: a.Quantile(p50), P95Ms: a.Quantile(p95), P99Ms: a.Quantile(p99),
	}
}

// ListToolCalls implements TelemetryService.ListToolCalls.
func (s *Server) ListToolCalls(ctx context.Context, req *telemetryv1.ListToolCallsRequest) (*telemetryv1.ListToolCallsResponse, error) {
	f := recorder.CallFilter{Session: req.GetSessionId(), Correlation: req.GetCorrelationId(), Tool: req.GetTool(), Status: req.GetStatus()}
	var err error
	if f.Since, err = optionalTime("since", req.GetSince()); err != nil {
		return nil, err
	}
	if f.Until, err = optionalTime("until", req.GetUntil()); err != nil {
		return nil, err
	}
	calls, next, err := s.rec.ListCalls(ctx, f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &telemetryv1.ListToolCallsResponse{Calls: calls, NextPageToken: next}, nil
}

// ListServerEvents implements TelemetryService.ListServerEvents.
func (s *Server) ListServerEvents(ctx context.Context, req *telemetryv1.ListServerEventsRequest) (*telemetryv1.ListServerEventsResponse, error) {
	f := recorder.EventFilter{Kind: req.GetKind(), Server: req.GetServer()}
	var err error
	if f.Since, err = optionalTime("since", req.GetSince()); err != nil {
		return nil, err
	}
	if f.Until, err = optionalTime("until", req.GetUntil()); err != nil {
		return nil, err
	}
	events, next, err := s.rec.ListEvents(ctx, f, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &telemetryv1.ListServerEventsResponse{Events: events, NextPageToken: next}, nil
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

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
