/**
 * Drives real bash, zsh and fish through a completion, non-interactively, and returns what each
 * would offer for `line` (the text before the cursor):
 * - bash: sources the script, sets COMP_WORDS/COMP_CWORD/COMP_LINE/COMP_POINT as readline would
 *   (words split at blanks and at '=', COMP_WORDBREAKS' default) and calls the function; COMPREPLY;
 * - zsh: an interactive zsh in a pseudo-terminal (zsh/zpty) runs compinit and the script, the line
 *   is typed with a TAB, and `compadd` is wrapped to record the matches it adds (after zsh's own
 *   matching against the word) before the shell exits;
 * - fish: `complete -C LINE` after sourcing the script.
 */
import { execa } from 'execa';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export type ShellName = 'bash' | 'zsh' | 'fish';

/** readline's words: split at blanks, and '=' is a word of its own (COMP_WORDBREAKS). */
export function bashWords(line: string): string[] {
  const words: string[] = [];
  for (const token of line.split(/\s+/).filter(Boolean)) {
    const parts = token.split(/(=)/).filter((p) => p !== '');
    words.push(...parts);
  }
  if (/\s$/.test(line) || line === '') words.push('');
  return words;
}

const BASH_DRIVER = `
source "$1"; shift
COMP_LINE=$1; COMP_POINT=\${#COMP_LINE}; shift
COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_custctl
printf '%s\\n' "\${COMPREPLY[@]}"
`;

// sourced by the interactive zsh inside the pseudo-terminal
const ZSH_SETUP = `
PS1= PROMPT= RPROMPT=
bindkey -e
bindkey '^I' complete-word
autoload -Uz compinit && compinit -u -D
source "$CUSTCTL_TEST_SCRIPT"
compadd() {
  # a call that only asks which words match (-O/-A/-D) is the completion system's own business
  if (( \${@[(I)-[OAD]]} )); then builtin compadd "$@"; return; fi
  local -a __matched
  builtin compadd -O __matched "$@"
  (( \${#__matched} )) && print -rl -- "\${__matched[@]}" >>"$CUSTCTL_TEST_CAPTURE"
  builtin compadd "$@"
}
__custctl_test_done() { print -r -- '::done' >>"$CUSTCTL_TEST_CAPTURE"; exit 0 }
comppostfuncs=(__custctl_test_done)
`;

const ZSH_HARNESS = `
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "source \${(q)1}"
zpty -w -n z "$2"$'\\t'
while zpty -r z __out; do :; done
zpty -d z 2>/dev/null
[[ -f $CUSTCTL_TEST_CAPTURE ]] && cat -- "$CUSTCTL_TEST_CAPTURE"
`;

export interface ShellRun {
  candidates: string[];
  stderr: string;
}

/** What `shell` offers for `line` with `script` loaded; `env` is the whole environment (PATH must find custctl). */
export async function completeIn(shell: ShellName, script: string, line: string, env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<ShellRun> {
  const dir = mkdtempSync(path.join(tmpdir(), `complete-${shell}-`));
  const opts = { env, extendEnv: false, reject: false, timeout: timeoutMs, input: '' } as const;
  let r;
  if (shell === 'bash') {
    r = await execa('bash', ['--norc', '--noprofile', '-c', BASH_DRIVER, 'bash', script, line, ...bashWords(line)], opts);
  } else if (shell === 'zsh') {
    const setup = path.join(dir, 'setup.zsh');
    const harness = path.join(dir, 'harness.zsh');
    writeFileSync(setup, ZSH_SETUP);
    writeFileSync(harness, ZSH_HARNESS);
    const capture = path.join(dir, 'capture');
    r = await execa('zsh', ['-f', harness, setup, line], { ...opts, env: { ...env, CUSTCTL_TEST_SCRIPT: script, CUSTCTL_TEST_CAPTURE: capture } });
    const text = String(r.stdout);
    if (!text.includes('::done')) throw new Error(`zsh completion of ${JSON.stringify(line)} did not finish (exit ${r.exitCode}):\n${text}\n${String(r.stderr)}`);
    return { candidates: [...new Set(text.split('\n').filter((l) => l !== '' && l !== '::done'))], stderr: String(r.stderr) };
  } else {
    r = await execa('fish', ['--no-config', '-c', 'source $argv[1]; complete -C $argv[2]', script, line], opts);
  }
  if (r.exitCode !== 0) throw new Error(`${shell} failed (exit ${r.exitCode}) on ${JSON.stringify(line)}:\n${String(r.stdout)}\n${String(r.stderr)}`);
  return { candidates: String(r.stdout).split('\n').filter(Boolean).map((l) => l.split('\t')[0] as string), stderr: String(r.stderr) };
}
