// Package grpcapi translates SessionService requests into sessions.Keeper calls and back.
// Validation lives in the keeper, so every path into the store gets it; errors are mapped to
// status codes by the serving platform's interceptors.
package grpcapi

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	sessionv1 "github.com/osirisplane/osiris/api/osiris/session/v1"
	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// Server implements sessionv1.SessionServiceServer.
type Server struct {
	sessionv1.UnimplementedSessionServiceServer
	keeper *sessions.Keeper
}

// New serves k.
func New(k *sessions.Keeper) *Server { return &Server{keeper: k} }

// CreateSession implements SessionService.CreateSession.
func (s *Server) CreateSession(ctx context.Context, req *sessionv1.CreateSessionRequest) (*sessionv1.Session, error) {
	rec, err := s.keeper.Create(ctx, sessions.CreateRequest{
		ID: req.GetId(), Labels: req.GetLabels(), IdleTTL: req.GetIdleTtl(), MaxTTL: req.GetMaxTtl(),
	})
	return session(rec, err)
}

// GetSession implements SessionService.GetSession.
func (s *Server) GetSession(ctx context.Context, req *sessionv1.GetSessionRequest) (*sessionv1.Session, error) {
	return session(s.keeper.Get(ctx, req.GetId()))
}

// ListSessions implements SessionService.ListSessions.
func (s *Server) ListSessions(ctx context.Context, req *sessionv1.ListSessionsRequest) (*sessionv1.ListSessionsResponse, error) {
	recs, next, err := s.keeper.List(ctx, req.GetIncludeClosed(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &sessionv1.ListSessionsResponse{Sessions: make([]*sessionv1.Session, len(recs)), NextPageToken: next}
	for i, r := range recs {
		resp.Sessions[i] = toProto(r)
	}
	return resp, nil
}

// TouchSession implements SessionService.TouchSession.
func (s *Server) TouchSession(ctx context.Context, req *sessionv1.TouchSessionRequest) (*sessionv1.Session, error) {
	return session(s.keeper.Touch(ctx, req.GetId()))
}

// CloseSession implements SessionService.CloseSession.
func (s *Server) CloseSession(ctx context.Context, req *sessionv1.CloseSessionRequest) (*sessionv1.Session, error) {
	return session(s.keeper.CloseSession(ctx, req.GetId(), req.GetErrorType(), req.GetErrorMessage()))
}

// DeleteSession implements SessionService.DeleteSession.
func (s *Server) DeleteSession(ctx context.Context, req *sessionv1.DeleteSessionRequest) (*sessionv1.DeleteSessionResponse, error) {
	if err := s.keeper.Delete(ctx, req.GetId()); err != nil {
		return nil, err
	}
	return &sessionv1.DeleteSessionResponse{}, nil
}

// TransitionState implements SessionService.TransitionState.
func (s *Server) TransitionState(ctx context.Context, req *sessionv1.TransitionStateRequest) (*sessionv1.Session, error) {
	return session(s.keeper.Transition(ctx, req.GetId(), req.GetTo(), req.GetExpectedFrom()))
}

// GetHistory implements SessionService.GetHistory.
func (s *Server) GetHistory(ctx context.Context, req *sessionv1.GetHistoryRequest) (*sessionv1.GetHistoryResponse, error) {
	ts, dropped, err := s.keeper.History(ctx, req.GetId())
	if err != nil {
		return nil, err
	}
	return &sessionv1.GetHistoryResponse{Transitions: ts, Dropped: dropped}, nil
}

// GetValue implements SessionService.GetValue.
func (s *Server) GetValue(ctx context.Context, req *sessionv1.GetValueRequest) (*sessionv1.GetValueResponse, error) {
	v, err := s.keeper.GetValue(ctx, req.GetSessionId(), req.GetKey())
	if err != nil {
		return nil, err
	}
	return &sessionv1.GetValueResponse{Value: v.Data, Version: v.Version}, nil
}

// SetValue implements SessionService.SetValue.
func (s *Server) SetValue(ctx context.Context, req *sessionv1.SetValueRequest) (*sessionv1.SetValueResponse, error) {
	v, err := s.keeper.SetValue(ctx, req.GetSessionId(), req.GetKey(), req.GetValue(), req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	return &sessionv1.SetValueResponse{Version: v}, nil
}

// DeleteValue implements SessionService.DeleteValue.
func (s *Server) DeleteValue(ctx context.Context, req *sessionv1.DeleteValueRequest) (*sessionv1.DeleteValueResponse, error) {
	if err := s.keeper.DeleteValue(ctx, req.GetSessionId(), req.GetKey(), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &sessionv1.DeleteValueResponse{}, nil
}

// ListValues implements SessionService.ListValues.
func (s *Server) ListValues(ctx context.Context, req *sessionv1.ListValuesRequest) (*sessionv1.ListValuesResponse, error) {
	entries, next, err := s.keeper.ListValues(ctx, req.GetSessionId(), req.GetPrefix(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	resp := &sessionv1.ListValuesResponse{Entries: make([]*sessionv1.ValueEntry, len(entries)), NextPageToken: next}
	for i, e := range entries {
		resp.Entries[i] = &sessionv1.ValueEntry{Key: e.Key, Value: e.Value.Data, Version: e.Value.Version}
	}
	return resp, nil
}

// ClearValues implements SessionService.ClearValues.
func (s *Server) ClearValues(ctx context.Context, req *sessionv1.ClearValuesRequest) (*sessionv1.ClearValuesResponse, error) {
	n, err := s.keeper.ClearValues(ctx, req.GetSessionId())
	if err != nil {
		return nil, err
	}
	return &sessionv1.ClearValuesResponse{Removed: n}, nil
}

func session(rec *sessions.Record, err error) (*sessionv1.Session, error) {
	if err != nil {
		return nil, err
	}
	return toProto(rec), nil
}

func toProto(r *sessions.Record) *sessionv1.Session {
	s := &sessionv1.Session{
		Id: r.ID, State: r.State, Labels: r.Labels,
		CreatedAt: timestamp(r.CreatedAt), UpdatedAt: timestamp(r.UpdatedAt), LastUsedAt: timestamp(r.LastUsedAt),
		ExpiresAt: timestamp(r.Deadline), ClosedAt: timestamp(r.ClosedAt),
		Version: r.Version, IdleTtl: durationpb.New(r.IdleTTL), MaxTtl: durationpb.New(r.MaxTTL),
		Outcome: r.Outcome, ErrorType: r.ErrorType, ErrorMessage: r.ErrorMessage, ValueCount: r.ValueCount,
	}
	if !r.Open() {
		s.DurationSeconds = r.ClosedAt.Sub(r.CreatedAt).Seconds()
	}
	return s
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
