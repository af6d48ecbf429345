// RealNsm outside an enclave: no /dev/nsm here, so every call must fail cleanly and typed.
import { existsSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { NsmError, RealNsm } from '../../../enclave-app/nsm/index.js';
import { VSOCK_ADDON_ENV } from '../../../vsock/index.js';
import { missingVsockAddon } from '../../tools.js';

const inEnclave = existsSync('/dev/nsm');

describe('RealNsm without /dev/nsm', () => {
  const saved = process.env[VSOCK_ADDON_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[VSOCK_ADDON_ENV];
    else process.env[VSOCK_ADDON_ENV] = saved;
  });

  // Opening /dev/nsm goes through the addon; without it the next test covers the answer.
  it.skipIf(missingVsockAddon())('constructs, then every operation rejects with NSM_UNAVAILABLE and a hint', async () => {
    console.log(`/dev/nsm ${inEnclave ? 'present: this is an enclave' : 'absent (expected outside a Nitro Enclave)'}`);
    const nsm = new RealNsm();
    if (inEnclave) {
      // Inside a real enclave the device answers; the description must be well-formed.
      const d = await nsm.describe();
      expect(d.digest).toBe('SHA384');
      return;
    }
    const calls: Array<() => Promise<unknown>> = [
      () => nsm.attest({ nonce: new Uint8Array([1]) }),
      () => nsm.describe(),
      () => nsm.getRandom(),
      () => nsm.describePcr(0),
      () => nsm.extendPcr(16, new Uint8Array([1])),
      () => nsm.lockPcr(16),
      () => nsm.lockPcrs(16),
    ];
    for (const call of calls) {
      const err = await call().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NsmError);
      expect((err as NsmError).code).toBe('NSM_UNAVAILABLE');
      expect((err as NsmError).category).toBe('unavailable');
      expect((err as NsmError).exitCode).toBe(3);
      expect((err as NsmError).message).toMatch(/ENOENT/);
      expect((err as NsmError).hint).toMatch(/Nitro Enclave/);
    }
    nsm.close();
  });

  it('reports NSM_UNAVAILABLE naming the addon when the addon is not built', async () => {
    process.env[VSOCK_ADDON_ENV] = '/nonexistent/attested_pack_vsock.node';
    const err = await new RealNsm().attest().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NsmError);
    expect((err as NsmError).code).toBe('NSM_UNAVAILABLE');
    expect((err as NsmError).message).toMatch(/addon/);
    expect((err as NsmError).hint).toMatch(/build\.mjs|simulated NSM/);
  });
});
