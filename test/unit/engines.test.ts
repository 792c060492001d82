import { readFileSync } from 'node:fs';
import path from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean }> };

describe('engines (issue 17 item 11)', () => {
  const oldest = semver.minVersion(pkg.engines.node)?.version ?? '';

  it('package.json names a Node range, and this machine is inside it', () => {
    expect(oldest).toMatch(/^\d+\.\d+\.\d+$/);
    expect(semver.satisfies(process.version, pkg.engines.node)).toBe(true);
  });

  /** the oldest release of each major engines allows: 20.19.0, 22.13.0, 24.0.0 */
  const floors = pkg.engines.node.split('||').map((r) => semver.minVersion(r.trim())?.version ?? '');

  it('engines names the majors custctl is tested on: 20, 22 and 24 (npm test runs 22 and 24 too)', () => {
    expect(floors.map((v) => semver.major(v))).toEqual([20, 22, 24]);
    expect(semver.satisfies('22.23.5', pkg.engines.node) && semver.satisfies('24.22.3', pkg.engines.node)).toBe(true);
  });

  it.each(floors)('every installed package accepts Node %s, the oldest of its major that engines allows (npm ci prints no EBADENGINE)', (floor) => {
    const refusing = Object.entries(lock.packages)
      .filter(([name, p]) => name !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.satisfies(floor, (p.engines as { node: string }).node, { includePrerelease: true }))
      .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')} wants node ${(p.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });
});
