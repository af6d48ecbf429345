/**
 * simulator/: the local simulation mode — the KMS simulator, the simulation's keys and demo
 * repository, and the one-command `sim` launcher.
 */
export * from './kms/index.js';
export { setupSimKeys, applyPolicies, policyFor, KEY_PURPOSE_LIST, type SimKeyArns, type SetupKeysOptions } from './keys.js';
export { ensureDemoRepo, demoManifest, DEMO_SECRETS, DEMO_IDENTITY, DEMO_AGE_IDENTITY, DEMO_ENVIRONMENT, type DemoRepo, type DemoRepoOptions } from './demo-repo.js';
export * from './sim/index.js';
