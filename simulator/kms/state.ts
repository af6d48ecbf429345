/**
 * The simulator's durable state: keys (with their material and key policy) and aliases, kept in
 * memory and written to `<stateDir>/kms-state.json` atomically (temp file, fsync, rename) after
 * every change, before the change is acknowledged. A state file that cannot be read back is a
 * start-up error — the simulator never resets keys silently.
 *
 * Key material is stored unencrypted (mode 0600): this is a simulator for tests and laptops.
 */
import { readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../common/fs.js';
import { parseKeyPolicy, type ParsedPolicy } from '../../kms-policies/index.js';
import { KmsSimError } from './errors.js';
import { KEY_SPECS, type KeySpec, type KeyUsage } from './key-material.js';

export const STATE_FILE = 'kms-state.json';
const FORMAT = 'attested-pack-kms-simulator-state';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

/** One KMS key as the simulator keeps it. */
export interface KeyRecord {
  keyId: string;
  arn: string;
  accountId: string;
  region: string;
  keySpec: KeySpec;
  keyUsage: KeyUsage;
  description: string;
  /** Milliseconds since the epoch. */
  creationDate: number;
  keyState: KeyState;
  deletionDate?: number;
  pendingWindowInDays?: number;
  /** The key policy exactly as the client sent it (GetKeyPolicy returns it unchanged). */
  policy: string;
  /** Base64 of 32 secret bytes (symmetric) or PKCS#8 DER (asymmetric). */
  material: string;
}

/** One alias. */
export interface AliasRecord {
  aliasName: string;
  targetKeyId: string;
  creationDate: number;
  lastUpdatedDate: number;
}

interface StateFile {
  format: typeof FORMAT;
  version: 1;
  accountId: string;
  region: string;
  keys: KeyRecord[];
  aliases: AliasRecord[];
}

/** In-memory keys and aliases with atomic, coalesced persistence. */
export class KmsState {
  private readonly keys = new Map<string, KeyRecord>();
  private readonly aliases = new Map<string, AliasRecord>();
  private readonly parsedPolicies = new Map<string, ParsedPolicy>();
  private chain: Promise<void> = Promise.resolve();
  private pending: Promise<void> | null = null;

  private constructor(
    readonly file: string,
    readonly accountId: string,
    readonly region: string,
  ) {}

  /** Opens (or creates) the state in `stateDir`; throws KMS_SIM_STATE_CORRUPT for an unreadable file. */
  static async open(stateDir: string, accountId: string, region: string): Promise<KmsState> {
    await mkdir(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, STATE_FILE);
    const state = new KmsState(file, accountId, region);
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new KmsSimError('KMS_SIM_STATE_CORRUPT', `cannot read the KMS simulator state ${file}`, { cause: err });
      }
    }
    if (text !== undefined) state.load(text);
    return state;
  }

  private load(text: string): void {
    const corrupt = (why: string): never => {
      throw new KmsSimError('KMS_SIM_STATE_CORRUPT', `KMS simulator state ${this.file} is corrupt: ${why}`, {
        hint: 'restore the file from a backup, or move it away to start with no keys; the simulator never resets state by itself',
      });
    };
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      corrupt('not valid JSON');
    }
    const d = doc as Partial<StateFile> | null;
    if (typeof d !== 'object' || d === null || d.format !== FORMAT || d.version !== 1) corrupt(`not a version 1 ${FORMAT} file`);
    if (d!.accountId !== this.accountId || d!.region !== this.region) {
      throw new KmsSimError(
        'KMS_SIM_BAD_CONFIG',
        `KMS simulator state ${this.file} belongs to account ${String(d!.accountId)} in ${String(d!.region)}, not ${this.accountId} in ${this.region}`,
        { hint: 'start the simulator with the same --account-id/--region, or use another --state directory' },
      );
    }
    if (!Array.isArray(d!.keys) || !Array.isArray(d!.aliases)) corrupt('keys and aliases must be lists');
    for (const [i, k] of d!.keys!.entries()) {
      const ok =
        typeof k === 'object' &&
        k !== null &&
        typeof k.keyId === 'string' &&
        typeof k.arn === 'string' &&
        (KEY_SPECS as readonly string[]).includes(k.keySpec) &&
        (k.keyUsage === 'ENCRYPT_DECRYPT' || k.keyUsage === 'SIGN_VERIFY') &&
        ['Enabled', 'Disabled', 'PendingDeletion'].includes(k.keyState) &&
        typeof k.policy === 'string' &&
        typeof k.material === 'string' &&
        typeof k.creationDate === 'number' &&
        typeof k.description === 'string';
      if (!ok) corrupt(`key #${i} is malformed`);
      const material = Buffer.from(k.material, 'base64');
      if (material.byteLength === 0 || (k.keySpec === 'SYMMETRIC_DEFAULT' && material.byteLength !== 32)) corrupt(`key ${k.keyId} has unusable material`);
      try {
        this.parsedPolicies.set(k.keyId, parseKeyPolicy(k.policy));
      } catch {
        corrupt(`key ${k.keyId} has an invalid key policy`);
      }
      if (this.keys.has(k.keyId)) corrupt(`key ${k.keyId} appears twice`);
      this.keys.set(k.keyId, { ...k });
    }
    for (const [i, a] of d!.aliases!.entries()) {
      if (typeof a !== 'object' || a === null || typeof a.aliasName !== 'string' || typeof a.targetKeyId !== 'string' || typeof a.creationDate !== 'number') {
        corrupt(`alias #${i} is malformed`);
      }
      if (!this.keys.has(a.targetKeyId)) corrupt(`alias ${a.aliasName} points to unknown key ${a.targetKeyId}`);
      this.aliases.set(a.aliasName, { ...a });
    }
  }

  getKey(keyId: string): KeyRecord | undefined {
    return this.keys.get(keyId);
  }

  listKeys(): KeyRecord[] {
    return [...this.keys.values()];
  }

  getAlias(name: string): AliasRecord | undefined {
    return this.aliases.get(name);
  }

  listAliases(): AliasRecord[] {
    return [...this.aliases.values()];
  }

  /** The parsed form of a key's policy (cached; refreshed by putKey/setPolicy). */
  policyOf(key: KeyRecord): ParsedPolicy {
    let p = this.parsedPolicies.get(key.keyId);
    if (!p) {
      p = parseKeyPolicy(key.policy);
      this.parsedPolicies.set(key.keyId, p);
    }
    return p;
  }

  /** Adds or replaces a key and persists. */
  async putKey(key: KeyRecord, parsedPolicy?: ParsedPolicy): Promise<void> {
    this.keys.set(key.keyId, key);
    this.parsedPolicies.set(key.keyId, parsedPolicy ?? parseKeyPolicy(key.policy));
    await this.persist();
  }

  /** Applies `change` to a key and persists. */
  async updateKey(keyId: string, change: (k: KeyRecord) => void, parsedPolicy?: ParsedPolicy): Promise<KeyRecord> {
    const k = this.keys.get(keyId);
    if (!k) throw new Error(`no key ${keyId}`);
    change(k);
    if (parsedPolicy) this.parsedPolicies.set(keyId, parsedPolicy);
    await this.persist();
    return k;
  }

  async putAlias(a: AliasRecord): Promise<void> {
    this.aliases.set(a.aliasName, a);
    await this.persist();
  }

  async deleteAlias(aliasName: string): Promise<void> {
    this.aliases.delete(aliasName);
    await this.persist();
  }

  /** Writes the state; concurrent callers share one write that includes all their changes. */
  persist(): Promise<void> {
    if (!this.pending) {
      this.pending = this.chain.then(async () => {
        this.pending = null;
        try {
          await writeFileAtomic(this.file, this.serialize(), { mode: 0o600 });
        } catch (err) {
          throw new KmsSimError('KMS_SIM_STATE_WRITE_FAILED', `cannot write the KMS simulator state ${this.file}`, { cause: err });
        }
      });
      this.chain = this.pending.catch(() => undefined);
    }
    return this.pending;
  }

  private serialize(): string {
    const doc: StateFile = {
      format: FORMAT,
      version: 1,
      accountId: this.accountId,
      region: this.region,
      keys: [...this.keys.values()],
      aliases: [...this.aliases.values()],
    };
    return JSON.stringify(doc, null, 2) + '\n';
  }
}
