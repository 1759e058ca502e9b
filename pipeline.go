package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/ingress-egress/ingress-egress/bus"
	"github.com/ingress-egress/ingress-egress/bus/embedded"
	"github.com/ingress-egress/ingress-egress/bus/natsbus"
	"github.com/ingress-egress/ingress-egress/bus/outbox"
	"github.com/ingress-egress/ingress-egress/bus/pubsubbus"
	"github.com/ingress-egress/ingress-egress/bus/stdoutbus"
)

// pipeline is the path of a line after the chat connection: the ingest
// handler (line → envelope), the publisher and the bus driver behind it,
// and what the driver needs running (the embedded NATS server). The
// service and the replay command build it the same way.
type pipeline struct {
	embedded *embedded.Server // MESSAGE_BUS_DRIVER=embedded only
	outbox   *outbox.Outbox   // in front of nats and pubsub, unless OUTBOX=off
	pub      *bus.Publisher
	ingest   *ingest
	closers  []func() // run last first by close
}

// newPipeline starts the configured bus and builds the publisher and the
// ingest handler in front of it. stdout is the stdout driver's output.
func newPipeline(ctx context.Context, c *config, getenv func(string) string, stdout io.Writer, log *slog.Logger) (_ *pipeline, err error) {
	p := &pipeline{}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	driver, err := p.startBus(ctx, c, getenv, stdout, log)
	if err != nil {
		return nil, err
	}
	p.pub = bus.New(driver, c.publisherOptions(log.With("component", "bus")))
	p.ingest = newIngest(p.pub, c.busPrefix+bus.Ingress, c.envelopeOptions(), log.With("component", "ingest"))
	return p, nil
}

// close stops what the bus needed running; the publisher is closed (and
// drained) by its owner before.
func (p *pipeline) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// startBus starts the configured bus driver. Each driver names its
// component in log.
func (p *pipeline) startBus(ctx context.Context, c *config, getenv func(string) string, stdout io.Writer, log *slog.Logger) (bus.Driver, error) {
	switch c.busDriver {
	case "embedded":
		return p.startEmbedded(ctx, c, log)
	case "nats", "nats-core":
		plan, err := c.planOutbox(log)
		if err != nil {
			return nil, err
		}
		o := c.natsOptions(log)
		if plan.on {
			// Nothing sent behind the forwarder's back after a reconnect:
			// what fails while the link is down is sent again in order.
			o.ReconnectBufSize = -1
		}
		d, err := natsbus.New(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("nats bus: %w", err)
		}
		return p.withOutbox(ctx, c, plan, d, log)
	case "pubsub":
		plan, err := c.planOutbox(log)
		if err != nil {
			return nil, err
		}
		d, err := pubsubbus.New(ctx, pubsubbus.Options{
			ProjectID:    firstNonEmpty(c.pubsubProject, getenv("GOOGLE_CLOUD_PROJECT")),
			CreateTopics: c.createTopics,
			Logger:       log,
		})
		if err != nil {
			return nil, fmt.Errorf("pubsub bus: %w", err)
		}
		return p.withOutbox(ctx, c, plan, d, log)
	case "stdout":
		return stdoutbus.New(stdout, stdoutbus.Options{}), nil
	}
	return nil, fmt.Errorf("unknown MESSAGE_BUS_DRIVER %q", c.busDriver)
}

// startEmbedded starts the embedded NATS server under DATA_DIR and a
// JetStream driver connected to it, and says where to watch the envelopes.
func (p *pipeline) startEmbedded(ctx context.Context, c *config, log *slog.Logger) (bus.Driver, error) {
	es, err := embedded.Start(ctx, embedded.Options{
		DataDir: c.dataDir,
		Port:    c.embeddedPort,
		Prefix:  c.busPrefix,
		Stream:  c.natsStream,
		Logger:  log,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded bus: %w", err)
	}
	p.embedded = es
	p.closers = append(p.closers, es.Shutdown)
	d, err := es.Driver(ctx, natsbus.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("embedded bus: %w", err)
	}
	dataDir, _ := filepath.Abs(c.dataDir)
	subject := c.busPrefix + bus.Ingress
	log.With("component", "bus").Info("embedded NATS bus ready: watch the envelopes with a NATS client",
		"natsUrl", es.URL(), "stream", c.natsStream, "subject", subject, "dataDir", dataDir,
		"try", "nats --server "+es.URL()+" sub '"+subject+"'")
	return d, nil
}
