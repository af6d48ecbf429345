/** The tool version recorded in receipts and printed by --version. Keep equal to package.json (a test checks). */
export const VERSION = '0.1.0';
