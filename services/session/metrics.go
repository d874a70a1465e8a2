package session

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/osirisplane/osiris/services/session/internal/sessions"
)

// metrics are the service's own instruments (on its /metrics, as osiris_session_…).
type metrics struct {
	auditDropped metric.Int64Counter
	expired      metric.Int64Counter
	retired      metric.Int64Counter
	purged       metric.Int64Counter
}

func newMetrics(meter metric.Meter) (*metrics, error) {
	var m metrics
	var err error
	if m.auditDropped, err = meter.Int64Counter("osiris.session.audit_dropped",
		metric.WithDescription("session lifecycle events not delivered to the audit service, by reason")); err != nil {
		return nil, err
	}
	if m.expired, err = meter.Int64Counter("osiris.session.expired", metric.WithDescription("open sessions removed because a TTL passed")); err != nil {
		return nil, err
	}
	if m.retired, err = meter.Int64Counter("osiris.session.retired", metric.WithDescription("closed sessions removed after their retention")); err != nil {
		return nil, err
	}
	if m.purged, err = meter.Int64Counter("osiris.session.purged_keys", metric.WithDescription("keys of removed sessions and cleared values deleted by sweeps")); err != nil {
		return nil, err
	}
	return &m, nil
}

// sweep counts what one durable sweep did.
func (m *metrics) sweep(r sessions.SweepReport) {
	ctx := context.Background()
	m.expired.Add(ctx, int64(r.Expired))
	m.retired.Add(ctx, int64(r.Retired))
	m.purged.Add(ctx, int64(r.Purged))
}

func (m *metrics) observe(meter metric.Meter, k *sessions.Keeper) error {
	stored, err := meter.Int64ObservableGauge("osiris.session.stored", metric.WithDescription("sessions stored: open, or closed within retention"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(stored, k.Stored())
		return nil
	}, stored)
	return err
}
