// Shared fixtures of the clef tests: a realistic clef.yaml (two namespaces × two environments,
// one KMS service identity and one age service identity, plus a single-namespace identity).

/** Public age keys made with `age-keygen` (private halves discarded: parse tests only). */
export const AGE_RECIPIENT_A = 'age14cvkan480v0hkgvh3hwkj6v3n2cksvgj5stppgzp8thm3qzk0fjs57gk5u';
export const AGE_RECIPIENT_B = 'age1u3f65fwaf9gewws8hqwlcfsmh3sckxwzlzr5e4dsnjz6emn8g3eqjrmxwk';
export const SOURCE_KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/0f1e2d3c-aaaa-bbbb-cccc-000000000001';
export const ENVELOPE_KEY_ALIAS_ARN = 'arn:aws:kms:eu-west-1:222222222222:alias/clef-api-gateway-prod';
export const ENVELOPE_KEY_ARN = 'arn:aws:kms:eu-west-1:222222222222:key/9a8b7c6d-1111-2222-3333-444444444444';

export const REALISTIC_MANIFEST = `# clef.yaml — payments platform
version: 1

environments:
  - name: staging
    description: Pre-production, shared by the team
  - name: production
    description: Live traffic
    protected: true
    sops:
      backend: awskms
      aws_kms_arn: "${SOURCE_KEY_ARN}"

namespaces:
  - name: payments
    description: Card processing
    owners: ["@payments-team"]
  - name: auth
    description: Login and sessions

sops:
  default_backend: age
  age:
    recipients:
      - key: ${AGE_RECIPIENT_A}
        label: alice

file_pattern: "secrets/{namespace}/{environment}.enc.yaml"

service_identities:
  - name: api-gateway
    description: Public API gateway
    namespaces: [auth, payments]
    pack_only: true
    environments:
      staging:
        recipient: ${AGE_RECIPIENT_B}
      production:
        kms:
          provider: aws
          keyId: "${ENVELOPE_KEY_ALIAS_ARN}"
  - name: billing-worker
    description: Nightly billing jobs
    namespaces: [payments]
    environments:
      production:
        kms: {provider: aws, keyId: "${ENVELOPE_KEY_ARN}"}
`;
