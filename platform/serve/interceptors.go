package serve

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/osirisplane/osiris/platform/apierr"
)

// unaryErrors maps every handler error to a status through apierr.ToStatus, logs internal
// errors with their detail (which the client never sees), and turns a panic into Internal.
func unaryErrors(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer recoverTo(log, info.FullMethod, &err)
		resp, err = handler(ctx, req)
		return resp, mapError(log, info.FullMethod, err)
	}
}

func streamErrors(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer recoverTo(log, info.FullMethod, &err)
		return mapError(log, info.FullMethod, handler(srv, ss))
	}
}

func mapError(log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	st, known := apierr.ToStatus(err)
	if !known {
		log.Error("internal error", "method", method, "err", err)
	}
	return st
}

func recoverTo(log *slog.Logger, method string, err *error) {
	if r := recover(); r != nil {
		log.Error("handler panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		*err = status.Error(codes.Internal, "internal error")
	}
}
