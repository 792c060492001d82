import { describe, expect, it } from 'vitest';
import { buildConfig, stateDirFrom } from '../../src/config.js';
import { UsageError } from '../../src/errors.js';
import { combinedExitCode } from '../../src/util/pool.js';
import { backoffDelay } from '../../src/domain/job.js';
import { readFileSync } from 'node:fs';
import { VERSION } from '../../src/version.js';

describe('config', () => {
  it('has the seed defaults', () => {
    const c = buildConfig({ HOME: '/home/op' }, {});
    expect(c).toMatchObject({ simulate: false, namespacePrefix: 'customer-', helmBin: 'helm', store: 'auto', maxAttempts: 3, retryDelayMs: 60_000, jobTimeoutMs: 600_000 });
    expect(c.stateDir).toBe('/home/op/.local/state/custctl');
  });

  it('reads the seed names and lets flags win', () => {
    const c = buildConfig(
      { SIMULATE_K8S_DEPLOYMENT: 'true', QUEUE_MAX_RETRIES: '5', QUEUE_RETRY_DELAY: '120000', CUSTCTL_JOB_TIMEOUT: '2m', CUSTCTL_STORE: 'postgres', HELM_BIN: '/opt/helm', CUSTCTL_NAMESPACE_PREFIX: 'tenant-' },
      { store: 'embedded', context: 'prod' },
    );
    expect(c).toMatchObject({ simulate: true, maxAttempts: 5, retryDelayMs: 120_000, jobTimeoutMs: 120_000, store: 'embedded', helmBin: '/opt/helm', namespacePrefix: 'tenant-', context: 'prod' });
  });

  it.each([
    [{ QUEUE_MAX_RETRIES: '0' }, /QUEUE_MAX_RETRIES/],
    [{ QUEUE_MAX_RETRIES: 'three' }, /QUEUE_MAX_RETRIES/],
    [{ QUEUE_RETRY_DELAY: 'soon' }, /QUEUE_RETRY_DELAY/],
    [{ SIMULATE_K8S_DEPLOYMENT: 'yes' }, /SIMULATE_K8S_DEPLOYMENT/],
    [{ CUSTCTL_NAMESPACE_PREFIX: 'kube-' }, /kube-/],
    [{ CUSTCTL_STORE: 'sqlite' }, /CUSTCTL_STORE/],
  ])('refuses %j', (env, msg) => {
    expect(() => buildConfig(env, {})).toThrow(UsageError);
    expect(() => buildConfig(env, {})).toThrow(msg);
  });

  it('refuses --api-url with local-only flags', () => {
    expect(() => buildConfig({}, { apiUrl: 'http://127.0.0.1:3100', context: 'x' })).toThrow(/--api-url/);
    expect(() => buildConfig({}, { apiUrl: 'not a url' })).toThrow(/not a URL/);
  });

  it('finds the state directory like DESIGN says', () => {
    expect(stateDirFrom({ CUSTCTL_STATE_DIR: '/s', XDG_STATE_HOME: '/x', HOME: '/h' })).toBe('/s');
    expect(stateDirFrom({ XDG_STATE_HOME: '/x', HOME: '/h' })).toBe('/x/custctl');
    expect(stateDirFrom({ HOME: '/h' })).toBe('/h/.local/state/custctl');
  });
});

describe('exit codes of several customers', () => {
  it.each([
    [[0, 0], 0],
    [[0, 5], 5],
    [[4, 4, 0], 4],
    [[3, 5], 1],
    [[2], 2],
  ])('%j → %d', (codes, code) => {
    expect(combinedExitCode(codes)).toBe(code);
  });
});

describe('backoff', () => {
  it.each([
    [60_000, 1, 60_000],
    [60_000, 2, 120_000],
    [60_000, 3, 240_000],
    [200, 1, 200],
    [200, 2, 400],
  ])('delay %d after %d failed tries → %d', (delay, made, ms) => {
    expect(backoffDelay(delay, made)).toBe(ms);
  });
});

describe('version', () => {
  it('matches package.json', () => {
    expect(VERSION).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
  });
});
