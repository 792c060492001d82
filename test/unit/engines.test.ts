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

  it('every installed package accepts the oldest Node that engines allows (npm ci prints no EBADENGINE)', () => {
    const refusing = Object.entries(lock.packages)
      .filter(([name, p]) => name !== '' && p.engines && !Array.isArray(p.engines) && p.engines.node)
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node, { includePrerelease: true }))
      .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')} wants node ${(p.engines as { node: string }).node}`);
    expect(refusing).toEqual([]);
  });
});
