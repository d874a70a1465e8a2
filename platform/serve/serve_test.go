package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/osirisplane/osiris/platform/apierr"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A hand-written service whose methods fail in the ways handlers can.
func failingService() *grpc.ServiceDesc {
	method := func(name string, fail func() error) grpc.MethodDesc {
		return grpc.MethodDesc{MethodName: name, Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := &emptypb.Empty{}
			if err := dec(in); err != nil {
				return nil, err
			}
			h := func(context.Context, any) (any, error) { return nil, fail() }
			return ic(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.Fail/" + name}, h)
		}}
	}
	return &grpc.ServiceDesc{ServiceName: "test.Fail", HandlerType: (*any)(nil), Methods: []grpc.MethodDesc{
		method("Internal", func() error { return errors.New("badger: corrupt table /var/lib/osiris/000007.sst") }),
		method("NotFound", func() error { return apierr.NotFound("no session s1") }),
		method("Panic", func() error { panic("boom") }),
	}}
}

func startServer(t *testing.T) (*Server, context.CancelFunc, chan error) {
	t.Helper()
	s, err := New(Config{Service: "test", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", OpenAPI: []byte(`{"swagger":"2.0"}`),
		MaxRecvBytes: 1 << 10, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	s.GRPC().RegisterService(failingService(), struct{}{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Serve(ctx, func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error { return nil })
	}()
	waitHTTP(t, "http://"+s.HTTPAddr()+"/readyz", 200)
	return s, cancel, done
}

func TestHTTPEndpoints(t *testing.T) {
	s, cancel, done := startServer(t)
	base := "http://" + s.HTTPAddr()
	tests := []struct {
		path, body string
		code       int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", "ready", 200},
		{"/openapi.json", `"swagger":"2.0"`, 200},
		{"/metrics", "go_goroutines", 200},
		{"/v1/nothing-here", "", 404},
	}
	for _, tt := range tests {
		code, body := get(t, base+tt.path)
		if code != tt.code || !strings.Contains(body, tt.body) {
			t.Errorf("GET %s = %d %q, want %d containing %q", tt.path, code, body, tt.code, tt.body)
		}
	}
	resp, err := http.Post(base+"/v1/x", "application/json", strings.NewReader(strings.Repeat("x", 4<<10)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsAreMappedAndInternalsHidden(t *testing.T) {
	s, cancel, done := startServer(t)
	defer func() { cancel(); <-done; s.Close(context.Background()) }()
	conn, err := grpc.NewClient(s.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tests := []struct {
		method string
		code   codes.Code
		msg    string
	}{
		{"Internal", codes.Internal, "internal error"},
		{"NotFound", codes.NotFound, "no session s1"},
		{"Panic", codes.Internal, "internal error"},
	}
	for _, tt := range tests {
		err := conn.Invoke(context.Background(), "/test.Fail/"+tt.method, &emptypb.Empty{}, &emptypb.Empty{})
		if st := status.Convert(err); st.Code() != tt.code || st.Message() != tt.msg {
			t.Errorf("%s: %v %q, want %v %q", tt.method, st.Code(), st.Message(), tt.code, tt.msg)
		}
	}
	h, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil || h.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: %v %v", h, err)
	}
}

func TestShutdownStopsBeingReadyAndReturns(t *testing.T) {
	s, cancel, done := startServer(t)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	select {
	case <-s.Draining():
	default:
		t.Fatal("Draining not closed after shutdown")
	}
	if _, err := http.Get("http://" + s.HTTPAddr() + "/readyz"); err == nil {
		t.Fatal("HTTP still answering after shutdown")
	}
	s.Close(context.Background())
}

func TestBusyPortIsAStartupError(t *testing.T) {
	s, cancel, done := startServer(t)
	defer func() { cancel(); <-done; s.Close(context.Background()) }()
	_, err := New(Config{Service: "x", GRPCAddr: s.GRPCAddr(), HTTPAddr: "127.0.0.1:0", Logger: slog.Default()})
	if err == nil || !strings.Contains(err.Error(), "listen for gRPC") {
		t.Fatalf("second server on a busy port: %v", err)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitHTTP(t *testing.T, url string, code int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == code {
				return
			}
		}
	}
	t.Fatalf("%s never answered %d", url, code)
}

func TestCloseWithoutServeReleasesThePorts(t *testing.T) {
	s, err := New(Config{Service: "x", GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	grpcAddr, httpAddr := s.GRPCAddr(), s.HTTPAddr()
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, err := New(Config{Service: "y", GRPCAddr: grpcAddr, HTTPAddr: httpAddr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("ports still held after Close: %v", err)
	}
	again.Close(context.Background())
}
