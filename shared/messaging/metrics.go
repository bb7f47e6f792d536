package messaging

import (
	"github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	"github.com/ThreeDotsLabs/watermill/components/metrics"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
)

// MetricsNamespace prefixes Watermill's metrics (staybook_handler_execution_time_seconds ...).
const MetricsNamespace = "staybook"

// PublisherWithMetrics decorates pub with Watermill's publish metrics.
func PublisherWithMetrics(reg prometheus.Registerer, pub message.Publisher) (message.Publisher, error) {
	return metrics.NewPrometheusMetricsBuilder(reg, MetricsNamespace, "").DecoratePublisher(pub)
}

// QueueBacklog exports, at every scrape, the number of messages ready in
// each of queues (a passive declare per queue on conn).
func QueueBacklog(reg prometheus.Registerer, conn *amqp.ConnectionWrapper, queues ...string) {
	reg.MustRegister(&backlogCollector{conn: conn, queues: queues, desc: prometheus.NewDesc(
		"staybook_queue_backlog_messages", "Messages ready in a queue this service consumes.", []string{"queue"}, nil)})
}

type backlogCollector struct {
	conn   *amqp.ConnectionWrapper
	queues []string
	desc   *prometheus.Desc
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	if !c.conn.IsConnected() {
		return
	}
	amqpCh, err := c.conn.Connection().Channel()
	if err != nil {
		return
	}
	defer amqpCh.Close()
	for _, q := range c.queues {
		info, err := amqpCh.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			return // the channel is closed after a failed passive declare
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(info.Messages), q)
	}
}
