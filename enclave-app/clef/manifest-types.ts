/**
 * The shape of a validated `clef.yaml` (Clef's `ClefManifest`, packages/core/src/types).
 * Field names stay as they are spelled in the YAML so a reader can map one onto the other.
 * Maps keyed by names are null-prototype objects: an environment called `constructor` must
 * not find `Object.prototype.constructor`.
 */

/** Canonical file name of the manifest (Clef's `CLEF_MANIFEST_FILENAME`). */
export const CLEF_MANIFEST_FILENAME = 'clef.yaml';

/** SOPS backends a manifest may name. */
export const SOPS_BACKENDS = ['age', 'awskms', 'gcpkms', 'azurekv', 'pgp', 'hsm'] as const;
export type SopsBackend = (typeof SOPS_BACKENDS)[number];

/** KMS providers a service identity's `kms:` may name. */
export const KMS_PROVIDERS = ['aws', 'gcp', 'azure'] as const;
export type KmsProvider = (typeof KMS_PROVIDERS)[number];

/** An age recipient as written in `recipients:` lists: a bare key or `{key, label}`. */
export type AgeRecipientEntry = string | { key: string; label?: string };

/** Backend-specific key settings shared by `sops:` and per-environment overrides. */
export interface SopsKeySettings {
  aws_kms_arn?: string;
  gcp_kms_resource_id?: string;
  azure_kv_url?: string;
  pgp_fingerprint?: string;
  pkcs11_uri?: string;
}

export interface ClefEnvironment {
  name: string;
  description: string;
  protected?: boolean;
  sops?: SopsKeySettings & { backend: SopsBackend };
  recipients?: AgeRecipientEntry[];
}

export interface ClefNamespace {
  name: string;
  description: string;
  schema?: string;
  owners?: string[];
}

export interface ClefSopsConfig extends SopsKeySettings {
  default_backend: SopsBackend;
  age?: { recipients: AgeRecipientEntry[] };
}

/** How a service identity's artifact for one environment is encrypted: KMS envelope or age. */
export type ServiceIdentityEnvironment =
  | { kms: { provider: KmsProvider; keyId: string }; recipient?: undefined }
  | { recipient: string; kms?: undefined };

export interface ServiceIdentity {
  name: string;
  description: string;
  /** Namespaces the identity may read, as listed (each exists in the manifest). */
  namespaces: string[];
  /** Environment name → envelope config; not every manifest environment has to appear. */
  environments: Readonly<Record<string, ServiceIdentityEnvironment>>;
  /** `clef service create --runtime`: never registered as a SOPS recipient. */
  pack_only?: boolean;
}

export interface ClefManifest {
  version: 1;
  environments: ClefEnvironment[];
  namespaces: ClefNamespace[];
  sops: ClefSopsConfig;
  file_pattern: string;
  service_identities?: ServiceIdentity[];
}
