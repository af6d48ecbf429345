/**
 * An enclave stand-in that speaks the real protocol over a real unix socket (vsock's
 * listenTransport + serveRpc), so the proxy's EnclaveClient, reconnects and timeouts are
 * exercised for real. Handlers echo the request like the enclave would; tests can slow them,
 * break them or stop the whole "enclave".
 */
import type { Duplex } from 'node:stream';
import { listenTransport, serveRpc, type RpcConnection, type RpcHandler, type TransportServer } from '../../vsock/index.js';
import type { PackRequest } from '../../enclave-app/protocol.js';
import { fakeArtifact, fakeReceipt } from './helpers.js';

export interface EnclaveDouble {
  url: string;
  /** Requests seen, by type. */
  seen: Array<{ type: string; body: unknown }>;
  handlers: Record<string, RpcHandler>;
  /** Stops listening and drops every connection (an enclave crash). */
  stop(): Promise<void>;
  /** Listens again on the same socket (the enclave came back). */
  start(): Promise<void>;
}

export async function startEnclaveDouble(socketPath: string): Promise<EnclaveDouble> {
  const url = `unix://${socketPath}`;
  let server: TransportServer | undefined;
  const connections = new Set<RpcConnection>();
  const double: EnclaveDouble = {
    url,
    seen: [],
    handlers: {
      pack: async (body) => {
        const req = body as PackRequest;
        return { artifact: fakeArtifact(req), receipt: fakeReceipt(req) };
      },
      attest: async () => ({ document: new Uint8Array([0xd2, 0x84, 0x40]) }),
      health: async () => ({ status: 'ok', version: 'double', inFlight: 0, signingReady: false }),
    },
    async stop() {
      for (const c of connections) c.close();
      connections.clear();
      await server?.close();
      server = undefined;
    },
    async start() {
      server = await listenTransport(url, (stream: Duplex) => {
        const wrapped: Record<string, RpcHandler> = {};
        for (const type of ['pack', 'attest', 'health', 'unseal']) {
          wrapped[type] = (body, ctx) => {
            double.seen.push({ type, body });
            const h = double.handlers[type];
            if (!h) throw new Error(`no ${type} handler`);
            return h(body, ctx);
          };
        }
        const conn = serveRpc(stream, wrapped, { server: 'enclave-double' });
        connections.add(conn);
        void conn.closed.then(() => connections.delete(conn));
      });
    },
  };
  await double.start();
  return double;
}
