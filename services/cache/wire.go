package cache

import (
	"context"

	"go.opentelemetry.io/otel/metric"

	"github.com/osirisplane/osiris/platform/writer"
	"github.com/osirisplane/osiris/services/cache/internal/badgerstore"
	"github.com/osirisplane/osiris/services/cache/internal/entrycache"
)

// open builds the entry cache on the store and registers its instruments.
func (s *Service) open() error {
	meter := s.srv.Telemetry().MeterProvider.Meter("github.com/osirisplane/osiris/services/cache")
	batches, err := meter.Int64Histogram("osiris.writer.batch_size", metric.WithDescription("writes committed per synced batch"),
		metric.WithExplicitBucketBoundaries(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024))
	if err != nil {
		return err
	}
	// The instruments read s.cache only when collected, which starts after New returns.
	if err := s.observe(meter); err != nil {
		return err
	}
	c, err := entrycache.Open(badgerstore.New(s.db), entrycache.Config{
		MaxValueBytes:   s.cfg.MaxValueBytes,
		MaxEntries:      s.cfg.MaxEntries,
		MaxBytes:        s.cfg.MaxBytes,
		MaxPendingBytes: s.cfg.MaxPendingBytes,
		DefaultTTL:      s.cfg.DefaultTTL,
		MaxTTL:          s.cfg.MaxTTL,
		ExpiryInterval:  s.cfg.ExpiryInterval,
		Queue: writer.Config{
			Depth:   s.cfg.QueueDepth,
			Observe: func(n int) { batches.Record(context.Background(), int64(n)) },
		},
		Now:     s.cfg.Now,
		Elapsed: s.cfg.Elapsed,
		Log:     s.log,
	})
	if err != nil {
		return err
	}
	s.cache = c
	return c.Clock().Register(meter)
}

// observe exports the queue depth and the cache's statistics.
func (s *Service) observe(meter metric.Meter) error {
	depth, err := meter.Int64ObservableGauge("osiris.writer.queue_depth", metric.WithDescription("writes waiting for the writer"))
	if err != nil {
		return err
	}
	entries, err := meter.Int64ObservableGauge("osiris.cache.entries", metric.WithDescription("entries stored"))
	if err != nil {
		return err
	}
	size, err := meter.Int64ObservableGauge("osiris.cache.bytes", metric.WithDescription("bytes accounted to stored entries"), metric.WithUnit("By"))
	if err != nil {
		return err
	}
	counters := map[string]metric.Int64ObservableCounter{}
	for _, name := range []string{"hits", "misses", "evictions", "expirations"} {
		c, err := meter.Int64ObservableCounter("osiris.cache."+name, metric.WithDescription("cache "+name+" since the store was created"))
		if err != nil {
			return err
		}
		counters[name] = c
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		st := s.cache.Stats()
		o.ObserveInt64(depth, int64(s.cache.QueueLen()))
		o.ObserveInt64(entries, int64(st.Entries))
		o.ObserveInt64(size, int64(st.Bytes))
		o.ObserveInt64(counters["hits"], int64(st.Hits))
		o.ObserveInt64(counters["misses"], int64(st.Misses))
		o.ObserveInt64(counters["evictions"], int64(st.Evictions))
		o.ObserveInt64(counters["expirations"], int64(st.Expirations))
		return nil
	}, depth, entries, size, counters["hits"], counters["misses"], counters["evictions"], counters["expirations"])
	return err
}
