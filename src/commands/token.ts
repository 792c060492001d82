/**
 * `custctl token create|list|revoke`: the API tokens `custctl serve` accepts, in its tokens file
 * (CUSTCTL_API_TOKENS_FILE, or --file). A new token is printed once (stdout) and only its SHA-256
 * is written; `list` shows names and roles, never a secret. A running serve picks up the change.
 */
import { Command, Option } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';
import { checkNewEntry, formatTokenLine, lineName, sha256Hex } from '../domain/tokens-file.js';
import { ConflictError, NotFoundError, UsageError } from '../errors.js';
import { outputOption, print, printTable, view, type OutputFormat } from '../output/print.js';

function tokensFile(d: Deps, flag: string | undefined): string {
  const file = flag ?? (d.env.CUSTCTL_API_TOKENS_FILE || undefined);
  if (!file) {
    throw new UsageError('no tokens file: set CUSTCTL_API_TOKENS_FILE (the file custctl serve reads) or pass --file', [
      'e.g. export CUSTCTL_API_TOKENS_FILE=/etc/custctl/tokens  (created 0600 by the first token create)',
    ]);
  }
  return file;
}

export interface CreatedToken {
  name: string;
  role: string;
  customerId?: string;
  file: string;
  /** the token itself: shown once, never stored */
  token: string;
}

export async function runTokenCreate(d: Deps, o: { name: string; role: string; customer?: string; file?: string; output: OutputFormat }): Promise<CreatedToken> {
  const entry = checkNewEntry({ name: o.name, role: o.role, customerId: o.customer });
  const file = tokensFile(d, o.file);
  const { changeTokensFile, generateToken } = await import('../adapters/tokens-file.js');
  const token = generateToken();
  await changeTokensFile(file, (cur) => {
    if (cur?.set.entries.some((e) => e.name === entry.name)) {
      throw new ConflictError(`a token named ${entry.name} exists already in ${file}`, [`revoke it first (custctl token revoke ${entry.name}) or choose another name`]);
    }
    return { lines: [...(cur?.lines ?? []), formatTokenLine(entry, sha256Hex(token))], result: undefined };
  });
  const r: CreatedToken = { ...entry, file, token };
  await print(d.io, o.output, view(r, (io) => {
    io.err.write(`Token ${entry.name} (${entry.role}${entry.customerId ? ` of ${entry.customerId}` : ''}) added to ${file}; only its SHA-256 is kept there.\n`
      + 'This is the only time it is shown: store it now (e.g. in your secret manager). A running custctl serve accepts it at once.\n');
    io.out.write(`${token}\n`);
  }));
  return r;
}

export async function runTokenList(d: Deps, o: { file?: string; output: OutputFormat }) {
  const file = tokensFile(d, o.file);
  const { readTokensFile, entryView } = await import('../adapters/tokens-file.js');
  const cur = await readTokensFile(file);
  const tokens = (cur?.set.entries ?? []).map(entryView);
  await print(d.io, o.output, view(tokens, async (io) => {
    for (const w of cur?.set.warnings ?? []) io.err.write(`warning: ${w}\n`);
    if (!cur) { io.err.write(`${file} does not exist yet: custctl token create makes it\n`); return; }
    if (tokens.length === 0) { io.err.write(`no tokens in ${file}\n`); return; }
    await printTable(io, ['NAME', 'ROLE', 'CUSTOMER'], tokens.map((t) => [t.name, t.role, t.customerId ?? '']));
  }, { names: () => tokens.map((t) => `token/${t.name}`) }));
  return tokens;
}

export async function runTokenRevoke(d: Deps, o: { name: string; file?: string; output: OutputFormat }) {
  const file = tokensFile(d, o.file);
  const { changeTokensFile, entryView } = await import('../adapters/tokens-file.js');
  const revoked = await changeTokensFile(file, (cur) => {
    const entry = cur?.set.entries.find((e) => e.name === o.name);
    if (!cur || !entry) {
      throw new NotFoundError(`no token named ${o.name} in ${file}${cur ? ` (there are: ${cur.set.entries.map((e) => e.name).join(', ') || 'none'})` : ' (the file does not exist)'}`);
    }
    const remaining = cur.set.entries.length - 1;
    if (remaining === 0) {
      throw new UsageError(`${o.name} is the last token in ${file}: custctl serve refuses a file without tokens`, ['create its successor first (custctl token create), then revoke it']);
    }
    return { lines: cur.lines.filter((l) => lineName(l) !== o.name), result: entryView(entry) };
  });
  await print(d.io, o.output, view({ revoked, file }, (io) => {
    io.out.write(`token ${revoked.name} (${revoked.role}${revoked.customerId ? ` of ${revoked.customerId}` : ''}) revoked in ${file}; a running custctl serve refuses it from its next request\n`);
  }));
  return revoked;
}

const fileOption = () => new Option('--file <path>', 'the tokens file (default: CUSTCTL_API_TOKENS_FILE)');

export function makeTokenCommand(d: Deps) {
  const cmd = new Command('token')
    .description('API tokens for custctl serve: create (shown once), list, revoke; the tokens file keeps only their SHA-256')
    .addHelpText('after', `
Examples:
  export CUSTCTL_API_TOKENS_FILE=/etc/custctl/tokens
  custctl token create ci-bot --role admin
  custctl token create grafana --role viewer
  custctl token create portal-abc --role owner --customer cust_abc123
  custctl token list
  custctl token revoke ci-bot`);
  cmd
    .command('create')
    .description('Create a token: prints it once on stdout, writes its SHA-256 to the tokens file (0600, atomically)')
    .argument('<name>', 'the token\'s name, shown in logs and as requestedBy (1-64 of A-Za-z0-9._-)')
    .addOption(new Option('--role <role>', 'admin (everything), viewer (read), owner (one customer: --customer)').choices(['admin', 'viewer', 'owner'] as const).makeOptionMandatory())
    .option('--customer <id>', 'the customer of an owner token (cust_…)')
    .addOption(fileOption())
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl token create ci-bot --role admin\n  TOKEN=$(custctl token create grafana --role viewer)\n  custctl token create portal-abc --role owner --customer cust_abc123 -o json')
    .action(async (name, f) => {
      await runTokenCreate(d, { name, role: f.role, ...(f.customer !== undefined ? { customer: f.customer } : {}), ...(f.file !== undefined ? { file: f.file } : {}), output: f.output });
    });
  cmd
    .command('list')
    .description('List the tokens: name, role and customer (never a secret)')
    .addOption(fileOption())
    .addOption(outputOption({ list: true }))
    .addHelpText('after', '\nExamples:\n  custctl token list\n  custctl token list -o json | jq -r \'.[] | select(.role == "admin") | .name\'')
    .action(async (f) => {
      await runTokenList(d, { ...(f.file !== undefined ? { file: f.file } : {}), output: f.output });
    });
  cmd
    .command('revoke')
    .description('Revoke a token: its line leaves the tokens file; a running serve refuses it at once')
    .argument('<name>', 'the token\'s name')
    .addOption(fileOption())
    .addOption(outputOption())
    .addHelpText('after', '\nExamples:\n  custctl token revoke ci-bot')
    .action(async (name, f) => {
      await runTokenRevoke(d, { name, ...(f.file !== undefined ? { file: f.file } : {}), output: f.output });
    });
  return cmd;
}
