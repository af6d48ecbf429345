/**
 * The attested-pack source this enclave was built from, as `eif bundle` stamps it into the bundle
 * (esbuild `define`): a 40-hex commit, `+dirty` when the checkout had uncommitted changes. It is
 * part of the bundle's bytes, so PCR2 measures it, and the pipeline repeats it in the receipt
 * (`claims.tool.source`) so an auditor knows which commit to rebuild. Undefined when the code runs
 * unbundled (tests, tsx) or the bundle was made outside a git checkout.
 */
declare const __ATTESTED_PACK_SOURCE__: string | undefined;

/** The bundled source revision, or undefined. */
export const BUNDLED_SOURCE: string | undefined = typeof __ATTESTED_PACK_SOURCE__ === 'string' ? __ATTESTED_PACK_SOURCE__ : undefined;
