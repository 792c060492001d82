/**
 * A real browser for the console's tests: Debian's `chromium` (installed by prepare.sh), driven by
 * puppeteer-core, which downloads nothing. One launch per test file; headless, no sandbox (CI may
 * run as root), no GPU. puppeteer's default flags keep Chromium off the network (no component
 * updates, no background networking): the only traffic is to the `serve` under test on 127.0.0.1.
 */
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';

export const CHROMIUM_BIN = process.env.CUSTCTL_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** `acceptInsecureCerts`: trust the test CA's certificates (a TLS proxy in front of serve, test/env/certs.ts). */
export async function launchChromium(o: { acceptInsecureCerts?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM_BIN)) throw new Error(`${CHROMIUM_BIN} not found: run test/env/prepare.sh as root (it installs Debian's chromium), or set CUSTCTL_TEST_CHROMIUM`);
  return puppeteer.launch({
    executablePath: CHROMIUM_BIN,
    headless: true, // Chromium's new headless mode (--headless=new)
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check', '--disable-features=Translate,MediaRouter,OptimizationHints'],
    defaultViewport: { width: 1280, height: 900 },
    timeout: 60_000,
    protocolTimeout: 120_000,
    ...(o.acceptInsecureCerts ? { acceptInsecureCerts: true } : {}),
  });
}
