package gateway

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// At start the gateway says which of its services does not answer, naming it, and nothing
// about those that do. Issue 12, Deliver 3.
func TestUnreachableServicesAreNamedAtStart(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(l)
	defer srv.Stop()
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	conns := map[string]*grpc.ClientConn{}
	for name, addr := range map[string]string{"audit": l.Addr().String(), "telemetry": deadAddr} {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[name] = c
	}
	var logs bytes.Buffer
	got := checkServices(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), conns, time.Second)
	if len(got) != 1 || got[0] != "telemetry" || !strings.Contains(logs.String(), "service=telemetry") || strings.Contains(logs.String(), "service=audit") {
		t.Fatalf("unreachable %v, log:\n%s", got, logs.String())
	}
}
