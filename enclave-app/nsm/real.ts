/**
 * RealNsm: the Nitro Security Module of the enclave we run in, through /dev/nsm and the raw
 * ioctl in the vsock/native addon. Outside an enclave every call fails with NSM_UNAVAILABLE.
 */
import { openNsmDevice } from '../../vsock/index.js';
import { NsmClient } from './client.js';

/** The real NSM. Construction never fails; the device is opened on first use. */
export class RealNsm extends NsmClient {
  constructor() {
    super(() => openNsmDevice());
  }
}
