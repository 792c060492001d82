/**
 * What a command offers at TAB for its operands, registered with the command itself (the model of
 * cobra's `ValidArgsFunction`): `custctl __complete` (src/commands/complete.ts) reads the command
 * tree and asks the command it lands on. A command without rules is offered every customer or
 * job where it asks for one; an option's value (`--customer`) is always offered every one.
 */
import type { CustomerRow } from './adapters/store.js';
import type { Job } from './domain/job.js';

export interface Completions {
  /** which existing customers to offer for the command's customer-id operands; `force`: --force is on the line */
  customers?: (row: CustomerRow, force: boolean) => boolean;
  /** which jobs to offer for its job-id operands */
  jobs?: (job: Job) => boolean;
}

const COMPLETIONS = Symbol('custctl.completions');

/** Registers `completions` with `command` and returns the command (to go on chaining). */
export function withCompletions<C extends object>(command: C, completions: Completions): C {
  (command as { [COMPLETIONS]?: Completions })[COMPLETIONS] = completions;
  return command;
}

/** The rules registered with `command` (none: everything is offered). */
export function completionsOf(command: object): Completions {
  return (command as { [COMPLETIONS]?: Completions })[COMPLETIONS] ?? {};
}
