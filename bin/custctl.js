#!/usr/bin/env node
// CommonJS (bin/package.json): `custctl --version` (or -V) answers from package.json without
// starting Node's ES module loader; everything else starts the CLI: the bundle of dist/ in
// dist/cli/ (scripts/bundle.mjs), where a command's modules come in few files.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  import('../dist/cli/main.js').catch((e) => {
    if (e?.code !== 'ERR_MODULE_NOT_FOUND' || !String(e.message).includes('dist/cli/main.js')) throw e;
    process.stderr.write('Error: custctl is not built (dist/cli/main.js is missing)\n  Run \'npm run build\' in the checkout, then try again.\n');
    process.exitCode = 1;
  });
}
