#!/usr/bin/env node
// `custctl --version` (or -V) answers from one tiny module; everything else starts the CLI.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { VERSION } = await import('../dist/version.js');
  process.stdout.write(`${VERSION}\n`);
} else {
  await import('../dist/main.js');
}
