/**
 * host-proxy in a process of its own, so the pack benchmark reads the proxy's CPU time apart from
 * the enclave's and the KMS simulator's (/proc/<pid>/stat). Started by bench/pack.ts with
 * `node --import tsx`; reads its configuration (the same document proxy.yaml holds) as one JSON
 * line on stdin, prints `{"url": …}` once listening, and closes gracefully on SIGTERM.
 */
import { once } from 'node:events';
import { parseProxyConfig, startHostProxy } from '../host-proxy/index.js';

let text = '';
process.stdin.setEncoding('utf8');
for await (const chunk of process.stdin) {
  text += chunk as string;
  if (text.includes('\n')) break;
}
const handle = await startHostProxy(parseProxyConfig(JSON.parse(text), { source: 'bench (stdin)', env: {} }));
process.stdout.write(JSON.stringify({ url: handle.url }) + '\n');
await once(process, 'SIGTERM');
await handle.close();
process.exit(0);
