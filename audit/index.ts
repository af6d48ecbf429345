/**
 * audit/: from a receipt to rebuilt PCRs — the receipt names its source commit, the checkout at
 * that commit rebuilds the image from its input lock, the PCRs are compared, then verify-receipt
 * runs with the rebuilt measurements.            (→ attestation, eif-build, verify-receipt)
 */
export { AuditError, type AuditErrorCode } from './errors.js';
export { auditReceipt, checkSource, formatAuditReport, mismatchLines, readReceiptForAudit, type AuditOptions, type AuditReport, type PcrComparison } from './audit.js';
export { registerAuditCommands } from './cli.js';
