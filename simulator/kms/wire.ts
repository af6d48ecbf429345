/**
 * Reading AWS JSON 1.1 request members the way KMS does: wrong JSON types are a
 * SerializationException, values outside the model's constraints a ValidationException phrased
 * like KMS ("1 validation error detected: Value at 'keyId' failed to satisfy constraint: …").
 * Blobs are standard base64 and decoded strictly.
 */
import { KmsApiError, validationError } from './errors.js';

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Wire member names are PascalCase; KMS reports them camelCase in validation messages. */
const camel = (name: string): string => name[0]!.toLowerCase() + name.slice(1);

/** Typed access to one request object (the body, or a nested structure such as Recipient). */
export class Input {
  constructor(
    private readonly obj: Record<string, unknown>,
    private readonly path = '',
  ) {}

  /** Parses a request body: a JSON object or nothing at all. */
  static fromBody(body: Buffer): Input {
    if (body.byteLength === 0) return new Input({});
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new KmsApiError('SerializationException', 'Request body is not valid JSON');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new KmsApiError('SerializationException', 'Start of structure or map expected for the request body');
    }
    return new Input(parsed as Record<string, unknown>);
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined && this.obj[name] !== null;
  }

  private where(name: string): string {
    return this.path ? `${this.path}.${camel(name)}` : camel(name);
  }

  private raw(name: string, required: boolean): unknown {
    const v = this.obj[name];
    if (v === undefined || v === null) {
      if (required) throw validationError(`1 validation error detected: Value null at '${this.where(name)}' failed to satisfy constraint: Member must not be null`);
      return undefined;
    }
    return v;
  }

  /** A string member; `min`/`max` are character counts as in the KMS model. */
  string(name: string, o: { required: true; min?: number; max?: number }): string;
  string(name: string, o?: { required?: false; min?: number; max?: number }): string | undefined;
  string(name: string, o: { required?: boolean; min?: number; max?: number } = {}): string | undefined {
    const v = this.raw(name, o.required === true);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new KmsApiError('SerializationException', `Expected a string for ${this.where(name)}`);
    this.checkLength(name, v.length, o.min ?? 1, o.max);
    return v;
  }

  /** One of the model's enum values. */
  enumOf<T extends string>(name: string, values: readonly T[], required = false): T | undefined {
    const v = required ? this.string(name, { required: true }) : this.string(name);
    if (v === undefined) return undefined;
    if (!(values as readonly string[]).includes(v)) {
      throw validationError(
        `1 validation error detected: Value '${v}' at '${this.where(name)}' failed to satisfy constraint: Member must satisfy enum value set: [${values.join(', ')}]`,
      );
    }
    return v as T;
  }

  /** A base64 blob member, decoded; byte limits as in the KMS model. */
  blob(name: string, o: { required: true; min?: number; max?: number }): Buffer;
  blob(name: string, o?: { required?: false; min?: number; max?: number }): Buffer | undefined;
  blob(name: string, o: { required?: boolean; min?: number; max?: number } = {}): Buffer | undefined {
    const v = this.raw(name, o.required === true);
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !BASE64_RE.test(v)) {
      throw new KmsApiError('SerializationException', `Value for ${this.where(name)} is not valid base64`);
    }
    const bytes = Buffer.from(v, 'base64');
    this.checkLength(name, bytes.byteLength, o.min ?? 1, o.max);
    return bytes;
  }

  /** An integer member within bounds. */
  int(name: string, o: { min: number; max: number; required?: boolean }): number | undefined {
    const v = this.raw(name, o.required === true);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) throw new KmsApiError('SerializationException', `Expected an integer for ${this.where(name)}`);
    if (v < o.min) throw validationError(`1 validation error detected: Value '${v}' at '${this.where(name)}' failed to satisfy constraint: Member must have value greater than or equal to ${o.min}`);
    if (v > o.max) throw validationError(`1 validation error detected: Value '${v}' at '${this.where(name)}' failed to satisfy constraint: Member must have value less than or equal to ${o.max}`);
    return v;
  }

  bool(name: string): boolean | undefined {
    const v = this.raw(name, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw new KmsApiError('SerializationException', `Expected a boolean for ${this.where(name)}`);
    return v;
  }

  /**
   * A string→string map (EncryptionContext), with a null prototype: every key the caller sent is
   * an own entry — `__proto__`, `constructor` and `toString` included — as it is for KMS.
   */
  stringMap(name: string): Record<string, string> | undefined {
    const v = this.raw(name, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new KmsApiError('SerializationException', `Expected a map for ${this.where(name)}`);
    const out = Object.create(null) as Record<string, string>;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (typeof x !== 'string') throw new KmsApiError('SerializationException', `Expected string values in ${this.where(name)}`);
      out[k] = x;
    }
    return out;
  }

  /** A list of strings (GrantTokens). */
  stringList(name: string, max: number): string[] | undefined {
    const v = this.raw(name, false);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw new KmsApiError('SerializationException', `Expected a list of strings for ${this.where(name)}`);
    this.checkLength(name, v.length, 0, max);
    return v as string[];
  }

  /** A nested structure, e.g. Recipient. */
  struct(name: string): Input | undefined {
    const v = this.raw(name, false);
    if (v === undefined) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new KmsApiError('SerializationException', `Start of structure or map expected for ${this.where(name)}`);
    return new Input(v as Record<string, unknown>, this.where(name));
  }

  private checkLength(name: string, n: number, min: number, max: number | undefined): void {
    if (n < min) throw validationError(`1 validation error detected: Value at '${this.where(name)}' failed to satisfy constraint: Member must have length greater than or equal to ${min}`);
    if (max !== undefined && n > max) {
      throw validationError(`1 validation error detected: Value at '${this.where(name)}' failed to satisfy constraint: Member must have length less than or equal to ${max}`);
    }
  }
}
