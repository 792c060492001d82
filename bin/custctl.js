#!/usr/bin/env node
// CommonJS (bin/package.json): `custctl --version` (or -V) answers from package.json without
// starting Node's ES module loader; everything else starts the CLI (dist/, ES modules).
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${require('../package.json').version}\n`);
} else {
  readAhead(args, process.env);
  import('../dist/main.js');
}

/**
 * The modules a local command will load, started now beside main's: otherwise each waits for the
 * one before it (main, then the command, then the jobs client, then the journal), one file-system
 * round trip after another. A wrong guess only loads a module early; main decides what runs.
 */
function readAhead(argv, env) {
  const withValue = new Set(['--kubeconfig', '--context', '--api-url', '--store', '--metrics-textfile']);
  let word;
  for (let i = 0; i < argv.length; i++) {
    if (withValue.has(argv[i])) i++;
    else if (!argv[i].startsWith('-')) { word = argv[i]; break; }
  }
  const remote = argv.includes('--api-url') || argv.some((a) => a.startsWith('--api-url=')) || !!env.CUSTCTL_API_URL;
  const redis = !!(env.REDIS_URL || env.REDIS_HOST);
  const journal = remote ? [] : ['jobs/local-client.js', 'adapters/state-dir.js', ...(redis ? [] : ['adapters/file-journal.js'])];
  const modules = {
    status: ['commands/status.js', 'output/job-view.js', ...journal],
    jobs: ['commands/jobs.js', 'output/job-view.js', ...journal],
    delete: ['commands/delete.js', 'output/plan.js', ...journal, ...(remote ? [] : ['jobs/local-running.js'])],
  }[word];
  for (const m of modules ?? []) import(`../dist/${m}`).catch(() => undefined);
}
