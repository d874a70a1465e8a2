package grpcapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	auditv1 "github.com/osirisplane/osiris/api/osiris/audit/v1"
)

// RegisterGateway maps the service to REST as the generated code does, except the export.
// The generated streaming handler answers 200 with the first line and reports a later
// failure as one more JSON line in the body, which a client that checks only the status (curl
// -f, a backup script) takes for a complete export. This one reads the first message before
// it sends a status, so an export that fails at once fails with its status code; after that,
// a failure aborts the response (no terminating chunk), so reading the body fails.
func RegisterGateway(log *slog.Logger) func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error {
	return func(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
		if err := auditv1.RegisterAuditServiceHandler(ctx, mux, conn); err != nil {
			return err
		}
		client := auditv1.NewAuditServiceClient(conn)
		// Registered later, so it takes precedence over the generated route.
		return mux.HandlePath(http.MethodGet, "/v1/audit/events:export", func(w http.ResponseWriter, req *http.Request, _ map[string]string) {
			exportREST(mux, client, log, w, req)
		})
	}
}

func exportREST(mux *runtime.ServeMux, client auditv1.AuditServiceClient, log *slog.Logger, w http.ResponseWriter, req *http.Request) {
	ctx, cancel := context.WithCancel(req.Context())
	defer cancel()
	_, out := runtime.MarshalerForRequest(mux, req)
	fail := func(err error) { runtime.HTTPError(ctx, mux, out, w, req, err) }
	ctx, err := runtime.AnnotateContext(ctx, mux, req, "/osiris.audit.v1.AuditService/ExportEvents", runtime.WithHTTPPathPattern("/v1/audit/events:export"))
	if err != nil {
		fail(err)
		return
	}
	var in auditv1.ExportEventsRequest
	if err := req.ParseForm(); err != nil {
		fail(status.Errorf(codes.InvalidArgument, "%v", err))
		return
	}
	if err := runtime.PopulateQueryParameters(&in, req.Form, &utilities.DoubleArray{Encoding: map[string]int{}}); err != nil {
		fail(status.Errorf(codes.InvalidArgument, "%v", err))
		return
	}
	stream, err := client.ExportEvents(ctx, &in)
	if err != nil {
		fail(err)
		return
	}
	msg, err := stream.Recv()
	if err != nil && !errors.Is(err, io.EOF) {
		fail(err) // nothing sent yet: the status says it
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for ; err == nil; msg, err = stream.Recv() {
		if _, werr := w.Write(append(msg.GetData(), '\n')); werr != nil {
			return // the client went away
		}
		if ferr := rc.Flush(); ferr != nil {
			return
		}
	}
	if errors.Is(err, io.EOF) {
		return
	}
	log.Warn("export failed after it began; aborting the response", "err", err)
	panic(http.ErrAbortHandler) // the body ends without its terminating chunk
}
