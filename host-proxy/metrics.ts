/**
 * The proxy's Prometheus metrics, on a Registry of its own (so tests and embedders never share
 * global state): HTTP requests and latency by route and status, the enclave queue, and bytes
 * through the KMS relay.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The instruments the server, the queue and the relay update. */
export interface ProxyMetrics {
  registry: Registry;
  httpRequests: Counter<'route' | 'method' | 'status'>;
  httpDuration: Histogram<'route' | 'method' | 'status'>;
  enclaveInFlight: Gauge;
  enclaveQueueDepth: Gauge;
  enclaveRequests: Counter<'type' | 'outcome'>;
  relayBytes: Counter<'direction'>;
  relayConnections: Counter<'outcome'>;
}

/** Creates the instruments on a fresh Registry (with Node process metrics unless disabled). */
export function createProxyMetrics(options: { processMetrics?: boolean } = {}): ProxyMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) {
    collectDefaultMetrics({ register: registry, prefix: 'attested_pack_proxy_' });
    // These gauges end in `_total`, which Prometheus reserves for counters (promtool rejects them).
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      registry.removeSingleMetric(`attested_pack_proxy_${name}`);
    }
  }
  const registers = [registry];
  return {
    registry,
    httpRequests: new Counter({
      name: 'attested_pack_proxy_http_requests_total',
      help: 'HTTP requests answered, by route template, method and status code.',
      labelNames: ['route', 'method', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'attested_pack_proxy_http_request_duration_seconds',
      help: 'HTTP request latency in seconds, by route template, method and status code.',
      labelNames: ['route', 'method', 'status'] as const,
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
    enclaveInFlight: new Gauge({
      name: 'attested_pack_proxy_enclave_in_flight',
      help: 'Enclave requests currently in flight.',
      registers,
    }),
    enclaveQueueDepth: new Gauge({
      name: 'attested_pack_proxy_enclave_queue_depth',
      help: 'Requests waiting for an enclave slot.',
      registers,
    }),
    enclaveRequests: new Counter({
      name: 'attested_pack_proxy_enclave_requests_total',
      help: 'Enclave requests by type and outcome (ok, or the error category).',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    relayBytes: new Counter({
      name: 'attested_pack_proxy_relay_bytes_total',
      help: 'Bytes relayed between the enclave and KMS, by direction (to_upstream, to_enclave).',
      labelNames: ['direction'] as const,
      registers,
    }),
    relayConnections: new Counter({
      name: 'attested_pack_proxy_relay_connections_total',
      help: 'KMS relay connections by outcome (ok, upstream_error).',
      labelNames: ['outcome'] as const,
      registers,
    }),
  };
}
