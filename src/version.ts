/** Kept in step with package.json by test/unit/config.test.ts (bin/custctl.js answers `--version` from package.json). */
export const VERSION = '0.1.0';
