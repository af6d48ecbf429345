/**
 * Request metrics (count and latency by route template and status) and the `GET /metrics`
 * endpoint in Prometheus text format.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ProxyMetrics } from '../metrics.js';

/** Records every answered request and serves /metrics. */
export const metricsPlugin = fp(
  async (app: FastifyInstance, opts: { metrics: ProxyMetrics }) => {
    const { metrics } = opts;
    // Callback style: an async hook costs a promise per request.
    app.addHook('onResponse', (request, reply, done) => {
      // The route template, never the raw URL: bounded label values.
      const labels = { route: request.routeOptions.url ?? 'unmatched', method: request.method, status: String(reply.statusCode) };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
      done();
    });
    app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
      const text = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(text);
    });
  },
  { name: 'attested-pack-metrics' },
);
