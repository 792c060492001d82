/** `custctl completion bash|zsh|fish`: prints the script shipped in completions/. */
import { readFile } from 'node:fs/promises';
import { Argument, Command } from '@commander-js/extra-typings';
import type { Deps } from '../deps.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

export async function runCompletion(d: Deps, shell: (typeof SHELLS)[number]): Promise<void> {
  const url = new URL(`../../completions/custctl.${shell}`, import.meta.url);
  d.io.out.write(await readFile(url, 'utf8'));
}

export function makeCompletionCommand(d: Deps) {
  return new Command('completion')
    .description('Print a shell completion script')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(SHELLS))
    .addHelpText('after', '\nExamples:\n  source <(custctl completion bash)\n  custctl completion zsh > "${fpath[1]}/_custctl"\n  custctl completion fish | source')
    .action(async (shell) => {
      await runCompletion(d, shell);
    });
}
