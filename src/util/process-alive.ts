/**
 * Whether a process of this machine still runs: signal 0 checks without sending anything. EPERM
 * means it runs under another user. Used to take over a lease or a lock whose holder is gone.
 */
export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
