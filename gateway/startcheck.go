package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// startCheckTimeout bounds how long start-up waits for each service to answer.
const startCheckTimeout = 3 * time.Second

// checkServices asks each service's gRPC health endpoint, at once, and logs an error naming
// every one that does not answer SERVING. The gateway still starts: a service may come up
// after it (the connections retry), and fail-open modes are the operator's choice; but the
// first thing in its log says what is missing, instead of the first agent's call failing.
func checkServices(ctx context.Context, log *slog.Logger, conns map[string]*grpc.ClientConn) (unreachable []string) {
	ctx, cancel := context.WithTimeout(ctx, startCheckTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, conn := range conns {
		wg.Go(func() {
			res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true))
			if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				return
			}
			status := res.GetStatus().String()
			if err != nil {
				status = err.Error()
			}
			log.Error("service unreachable at start-up; calls that need it will fail until it answers", "service", name, "addr", conn.Target(), "status", status)
			mu.Lock()
			unreachable = append(unreachable, name)
			mu.Unlock()
		})
	}
	wg.Wait()
	return unreachable
}
