/** A key policy shaped like kms-policies generates: Decrypt only for an attested enclave image. */
export function keyPolicy(pcr0: string, pcr1: string, pcr2: string): unknown {
  return {
    Version: '2012-10-17',
    Statement: [
      { Sid: 'KeyAdmin', Effect: 'Allow', Principal: { AWS: 'arn:aws:iam::111111111111:root' }, Action: 'kms:*', Resource: '*' },
      {
        Sid: 'EnclaveDecrypt',
        Effect: 'Allow',
        Principal: { AWS: 'arn:aws:iam::111111111111:role/parent' },
        Action: 'kms:Decrypt',
        Resource: '*',
        Condition: {
          StringEqualsIgnoreCase: {
            'kms:RecipientAttestation:ImageSha384': pcr0,
            'kms:RecipientAttestation:PCR1': pcr1,
            'kms:RecipientAttestation:PCR2': pcr2,
          },
        },
      },
    ],
  };
}
