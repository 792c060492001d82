// Nothing the test run starts listens on anything but loopback.
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { testEnv } from '../support/env.js';

interface Listener { pid: number; proto: string; address: string; port: number }

/** /proc/net/tcp* hex address → printable address. */
function decodeAddress(hex: string): string {
  if (hex.length === 8) {
    return [3, 2, 1, 0].map((i) => parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
  }
  // IPv6: four little-endian 32-bit words
  const words = [0, 1, 2, 3].map((w) => hex.slice(w * 8, w * 8 + 8).match(/../g)!.reverse().join(''));
  const groups = words.join('').match(/..../g)!.map((g) => parseInt(g, 16).toString(16));
  return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

/** The pids started by the run plus all their descendants (postgres forks its backends). */
function withDescendants(roots: number[]): number[] {
  const parent = new Map<number, number>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch { /* exited */ }
  }
  const all = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parent) if (all.has(ppid) && !all.has(pid)) { all.add(pid); grew = true; }
  }
  return [...all];
}

function listenersOf(pid: number): Listener[] {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const found: Listener[] = [];
  for (const proto of ['tcp', 'tcp6', 'udp', 'udp6']) {
    const lines = fs.readFileSync(`/proc/${pid}/net/${proto}`, 'utf8').trim().split('\n').slice(1);
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const [, local, , state, , , , , , inode] = f;
      if (!local || !inode || !inodes.has(inode)) continue;
      // TCP: 0A = LISTEN; UDP: 07 = an unconnected (receiving) socket
      if (proto.startsWith('tcp') ? state !== '0A' : state !== '07') continue;
      const [addr, port] = local.split(':') as [string, string];
      found.push({ pid, proto, address: decodeAddress(addr), port: parseInt(port, 16) });
    }
  }
  return found;
}

describe('listening sockets of the processes the run started', () => {
  it('are bound to 127.0.0.1 or ::1 only', () => {
    const roots = testEnv().pids;
    expect(Object.keys(roots).sort()).toEqual(['etcd', 'kube-apiserver', 'kube-controller-manager', 'postgres', 'redis-server']);
    for (const [name, pid] of Object.entries(roots)) expect(fs.existsSync(`/proc/${pid}`), `${name} (${pid}) is running`).toBe(true);

    const listeners = withDescendants(Object.values(roots)).flatMap(listenersOf);
    // every server listens somewhere (otherwise the check below proves nothing)
    for (const [name, pid] of Object.entries(roots)) {
      expect(listeners.some((l) => l.pid === pid), `${name} has a listening socket`).toBe(true);
    }
    const exposed = listeners.filter((l) => l.address !== '127.0.0.1' && l.address !== '::1');
    expect(exposed, JSON.stringify(exposed)).toEqual([]);
    expect(listeners.length).toBeGreaterThanOrEqual(6);
  });
});
