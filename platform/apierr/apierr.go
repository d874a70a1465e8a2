// Package apierr is the one place where domain errors become gRPC status codes.
//
// Domain and store packages return errors that wrap one of the kinds below (directly or via
// the constructors); ToStatus, called once at the transport edge by the interceptors in
// package serve, turns them into codes. Any other error is internal: it is logged and the
// client sees only "internal error", so storage details never leak.
package apierr

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of failure a client can act on. Wrap them; never compare messages.
var (
	ErrInvalidArgument    = errors.New("invalid argument")
	ErrNotFound           = errors.New("not found")
	ErrAlreadyExists      = errors.New("already exists")
	ErrFailedPrecondition = errors.New("failed precondition")
	ErrAborted            = errors.New("aborted")
	ErrResourceExhausted  = errors.New("resource exhausted")
	ErrUnavailable        = errors.New("unavailable")
	ErrDataLoss           = errors.New("data loss")
)

// kindError carries a client-facing message and the kind it belongs to.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.kind }

func newKind(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Invalid reports bad input; the message names the field and the rule it broke.
func Invalid(format string, args ...any) error {
	return newKind(ErrInvalidArgument, format, args...)
}

// NotFound reports a missing resource.
func NotFound(format string, args ...any) error { return newKind(ErrNotFound, format, args...) }

// AlreadyExists reports a create of something that exists.
func AlreadyExists(format string, args ...any) error {
	return newKind(ErrAlreadyExists, format, args...)
}

// FailedPrecondition reports a request that is valid but not in the current state.
func FailedPrecondition(format string, args ...any) error {
	return newKind(ErrFailedPrecondition, format, args...)
}

// Exhausted reports a limit that was reached (queue depth, sizes, counts).
func Exhausted(format string, args ...any) error {
	return newKind(ErrResourceExhausted, format, args...)
}

// Unavailable reports a service that cannot take the request now (for example shutting down).
func Unavailable(format string, args ...any) error {
	return newKind(ErrUnavailable, format, args...)
}

// DataLoss reports stored data found corrupt (a broken audit chain).
func DataLoss(format string, args ...any) error { return newKind(ErrDataLoss, format, args...) }

// codeOf returns the code of err's kind, or false when err is of no known kind.
func codeOf(err error) (codes.Code, bool) {
	switch {
	case errors.Is(err, ErrInvalidArgument):
		return codes.InvalidArgument, true
	case errors.Is(err, ErrNotFound):
		return codes.NotFound, true
	case errors.Is(err, ErrAlreadyExists):
		return codes.AlreadyExists, true
	case errors.Is(err, ErrFailedPrecondition):
		return codes.FailedPrecondition, true
	case errors.Is(err, ErrAborted):
		return codes.Aborted, true
	case errors.Is(err, ErrResourceExhausted):
		return codes.ResourceExhausted, true
	case errors.Is(err, ErrUnavailable):
		return codes.Unavailable, true
	case errors.Is(err, ErrDataLoss):
		return codes.DataLoss, true
	}
	return codes.Unknown, false
}

// ToStatus maps err to a gRPC status error. The bool is false when err is internal, so the
// caller can log the original.
func ToStatus(err error) (error, bool) {
	if err == nil {
		return nil, true
	}
	if _, ok := status.FromError(err); ok {
		// Already a status (for example from grpc itself): pass it on unchanged.
		return err, true
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "request cancelled"), true
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded"), true
	}
	if code, ok := codeOf(err); ok {
		return withField(status.New(code, err.Error()), err).Err(), true
	}
	return status.Error(codes.Internal, "internal error"), false
}
