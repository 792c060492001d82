/**
 * The only module that touches `process`: builds the dependencies, parses the command line,
 * and maps errors to exit codes.
 */
import { setMaxListeners } from 'node:events';
import { createRequire } from 'node:module';
import { setFlagsFromString } from 'node:v8';
import type * as Commander from '@commander-js/extra-typings';
import type { Command, Help, Option } from '@commander-js/extra-typings';
import { makeDeps } from './deps.js';
import { CliError, errorMessage, exitCodeFor } from './errors.js';
import { CLOSED_STDOUT_EXIT, openIO, watchClosedPipe } from './io.js';
import { VERSION } from './version.js';
import { commanderErrorText, writeError } from './output/error.js';
import { visibleLines } from './domain/visible.js';
import { prepareConfig, type GlobalFlags } from './config.js';

type Deps = ReturnType<typeof makeDeps>;

/** commander, loaded when the command tree is built: `status job`'s short path never loads it. */
let commanderModule: typeof Commander | undefined;
const commander = (): typeof Commander => (commanderModule ??= createRequire(import.meta.url)('@commander-js/extra-typings') as typeof Commander);
type SetExit = (code: number) => void;

/**
 * Every command, in help order. A command's module (and what it imports) loads only when that
 * command runs, or for the full help: `status job N` should not pay for `serve`.
 */
const COMMANDS: Record<string, (d: Deps, setExit: SetExit) => Promise<unknown>> = {
  delete: async (d, s) => (await import('./commands/delete.js')).makeDeleteCommand(d, s),
  cancel: async (d) => (await import('./commands/cancel.js')).makeCancelCommand(d),
  restore: async (d, s) => (await import('./commands/restore.js')).makeRestoreCommand(d, s),
  backups: async (d) => (await import('./commands/backups.js')).makeBackupsCommand(d),
  status: async (d, s) => (await import('./commands/status.js')).makeStatusCommand(d, s),
  jobs: async (d, s) => (await import('./commands/jobs.js')).makeJobsCommand(d, s),
  worker: async (d, s) => (await import('./commands/worker.js')).makeWorkerCommand(d, s),
  'cleanup-rbac': async (d, s) => (await import('./commands/cleanup-rbac.js')).makeCleanupRbacCommand(d, s),
  serve: async (d, s) => (await import('./commands/serve.js')).makeServeCommand(d, s),
  customers: async (d) => (await import('./commands/customers.js')).makeCustomersCommand(d),
  clusters: async (d, s) => (await import('./commands/clusters.js')).makeClustersCommand(d, s),
  db: async (d, s) => (await import('./commands/db.js')).makeDbCommand(d, s),
  doctor: async (d, s) => (await import('./commands/doctor.js')).makeDoctorCommand(d, s),
  version: async (d) => (await import('./commands/version.js')).makeVersionCommand(d),
  audit: async (d, s) => (await import('./commands/audit.js')).makeAuditCommand(d, s),
  token: async (d) => (await import('./commands/token.js')).makeTokenCommand(d),
  export: async (d) => (await import('./commands/export.js')).makeExportCommand(d),
  erase: async (d) => (await import('./commands/erase.js')).makeEraseCommand(d),
  certificate: async (d, s) => (await import('./commands/certificate.js')).makeCertificateCommand(d, s),
  portal: async (d) => (await import('./commands/portal.js')).makePortalCommand(d),
  completion: async (d) => (await import('./commands/completion.js')).makeCompletionCommand(d),
  // hidden: what the completion scripts ask at each TAB, answered from this same command tree
  __complete: async (d) => (await import('./commands/complete.js')).makeCompleteCommand(d, (words) => makeProgram(d, () => undefined, words)),
};

const GLOBAL_OPTIONS_WITH_VALUE = new Set(['--kubeconfig', '--context', '--api-url', '--store', '--metrics-textfile']);

/** The command word of `argv` (user arguments), skipping global options and their values. */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (GLOBAL_OPTIONS_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

/**
 * Help as gh shows it: a subcommand's help lists the flags it inherits (the global ones, and its
 * parent's) under "Inherited flags:", and a required option says so.
 */
export const HELP_CONFIG: Partial<Help> = {
  showGlobalOptions: true,
  styleTitle(this: Help, title: string) {
    return title === 'Global Options:' ? 'Inherited flags:' : title;
  },
  // --version answers only at the top: not a flag a subcommand inherits
  visibleGlobalOptions(this: Help, cmd: Command) {
    return commander().Help.prototype.visibleGlobalOptions.call(this, cmd).filter((o) => o.long !== '--version');
  },
  optionDescription(this: Help, option: Option) {
    const text = commander().Help.prototype.optionDescription.call(this, option);
    return option.mandatory ? `${text} (required)` : text;
  },
};

/** The help, output and error settings of one command and its subcommands (addCommand does not pass them on). */
function configureTree(c: Command, deps: Deps, top: boolean): void {
  c.exitOverride()
    .configureHelp(HELP_CONFIG)
    .configureOutput({
      writeOut: (s) => deps.io.out.write(visibleLines(s)),
      writeErr: (s) => deps.io.err.write(visibleLines(s)),
      outputError: (s, write) => write(commanderErrorText(deps.io, s)),
    });
  if (top) c.showHelpAfterError('(run with --help for usage)');
  for (const sub of c.commands) configureTree(sub as unknown as Command, deps, false);
}

export async function makeProgram(deps: Deps, setExit: SetExit, argv: readonly string[]) {
  const { Command, Option } = commander();
  const program = new Command('custctl')
    .description("Delete a customer's infrastructure on the multi-tenant Kubernetes platform, safely.")
    .version(VERSION, '-V, --version', 'print the version (`custctl version`: every part\'s)')
    .option('--kubeconfig <path>', 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config)')
    .option('--context <name>', 'kube context (default: the current context)')
    .option('--api-url <url>', 'send the command to a custctl queue API (CUSTCTL_API_URL)')
    .addOption(new Option('--store <store>', 'customer store: embedded (PGlite) or postgres (CUSTCTL_STORE)').choices(['embedded', 'postgres'] as const))
    .option('--metrics-textfile <path>', "write this run's metrics there at the end, atomically (node_exporter's textfile collector)")
    .option('-v, --verbose', 'debug logging')
    .option('--no-color', 'no colour (NO_COLOR is honoured too)')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureHelp(HELP_CONFIG)
    .configureOutput({
      writeOut: (s) => deps.io.out.write(visibleLines(s)),
      writeErr: (s) => deps.io.err.write(visibleLines(s)),
      outputError: (s, write) => write(commanderErrorText(deps.io, s)),
    })
    .addHelpText(
      'after',
      `
Examples:
  custctl delete cust_abc123                  delete one customer (asks for confirmation)
  custctl delete cust_abc123 --dry-run        show the plan only
  custctl status job 12345                    a deletion job's state, attempts and log
  custctl cleanup-rbac --dry-run --exit-code  CI gate for leaked cluster RBAC
  SIMULATE_K8S_DEPLOYMENT=true custctl delete cust_demo1 --yes --store embedded

Exit codes: 0 done, 1 failed, 2 bad usage or input, 3 not found, 4 conflict,
            5 timed out waiting for the namespace, 6 orphans found (cleanup-rbac --exit-code)`,
    );
  const word = commandWord(argv);
  const names = word !== undefined && word in COMMANDS ? [word] : Object.keys(COMMANDS);
  const commands = (await Promise.all(names.map((n) => (COMMANDS[n] as (typeof COMMANDS)[string])(deps, setExit)))) as Command[];
  for (const c of commands) {
    configureTree(c, deps, true);
    program.addCommand(c as unknown as Command);
  }
  return program;
}

/** commander's own errors (`commander.unknownOption`, help): it printed them already. */
function isCommanderError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' && (e as { code: string }).code.startsWith('commander.');
}

export function reportError(deps: Deps, e: unknown, verbose: boolean): void {
  if (isCommanderError(e)) return; // commander already printed it
  deps.log.setStatus(null);
  if (e instanceof CliError) {
    writeError(deps.io, errorMessage(e), e.details);
  } else if (verbose && e instanceof Error && e.stack) {
    writeError(deps.io, errorMessage(e));
    deps.io.err.write(`${visibleLines(e.stack)}\n`);
  } else {
    writeError(deps.io, errorMessage(e), ['(unexpected error: run with -v for the stack trace, and please report it)']);
  }
}

/**
 * V8 favours memory over peak JS speed: client-node's ~1000 modules are most of custctl's memory
 * (measured: 123–131 MB → 104–106 MB for importing client-node, pg and js-yaml, no slower), and
 * custctl's own JS is glue around API calls and helm processes. Set before those modules load.
 */
setFlagsFromString('--optimize-for-size');

/**
 * The AWS SDK (S3 backups) prints a NodeVersionSupportWarning on Node < 22: its releases after
 * January 2027 will need Node 22. That is news for custctl's maintainers, who pin the SDK in the
 * lockfile (engines says which Node custctl supports), not for the operator; this is the switch
 * AWS documents for it (aws/aws-sdk-js-v3#7983). An explicit setting in the environment is kept.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// a closed stdout (`custctl customers list | head -1`) ends the command quietly (see main's end)
const stdoutPipe = watchClosedPipe(process.stdout);

async function main(): Promise<number> {
  const noColor = process.argv.includes('--no-color');
  const io = await openIO({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }, process.env, { noColor });
  const shutdown = new AbortController();
  // every running job listens to it (up to --concurrency 64 at once, several listeners each): that
  // many listeners are the design, not a leak, and Node's warning would break a bulk run's output
  setMaxListeners(0, shutdown.signal);
  let flags: GlobalFlags = {};
  let interrupted = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    io.err.write(`\n${sig}: stopping (the current step is handed back; press Ctrl-C again to quit at once)\n`);
    shutdown.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await prepareConfig(process.env);
  const deps = makeDeps({ io, env: process.env, flags: () => flags, shutdown: shutdown.signal, pid: process.pid });
  let exit = 0;
  const argv = process.argv.slice(2);
  try {
    // `status job <id>` in its plain forms runs without the command tree (scripts poll it)
    const shortcut = argv[0] === 'status' ? await import('./commands/status.js') : null;
    const plain = shortcut?.statusJobShortcut(argv);
    if (shortcut && plain) {
      exit = await shortcut.runStatusJobShortcut(deps, plain);
    } else {
      const program = await makeProgram(deps, (code) => {
        exit = code;
      }, argv);
      program.hook('preAction', () => {
        const o = program.opts();
        flags = { kubeconfig: o.kubeconfig, context: o.context, apiUrl: o.apiUrl, store: o.store, verbose: o.verbose, metricsTextfile: o.metricsTextfile };
      });
      await program.parseAsync(process.argv);
    }
  } catch (e) {
    exit = exitCodeFor(e);
    reportError(deps, e, flags.verbose ?? process.argv.includes('-v'));
  } finally {
    await deps.close();
  }
  if (interrupted && exit !== 0) exit = 130;
  return exit;
}

const code = await main();
// an EPIPE from the last write is reported on a later tick: let it surface before deciding
await new Promise((resolve) => setImmediate(resolve));
if (stdoutPipe.closed()) {
  // the reader went away: no message, the shell status of a process ended by SIGPIPE (like kubectl, gh)
  process.stderr.write('', () => process.exit(CLOSED_STDOUT_EXIT));
} else {
  // Flush stdout/stderr before exiting: a pending watch or socket must not keep the process alive.
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}
