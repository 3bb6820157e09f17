import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where the browser tests leave their screenshots (CI keeps the folder as the run's artifacts). */
export function browserArtifactsDir(): string {
  return path.resolve(process.env['RAFTKV_BROWSER_ARTIFACTS'] ?? 'ci-artifacts/browser');
}

export function chromiumPath(): string {
  return process.env['RAFTKV_CHROMIUM'] ?? '/usr/bin/chromium';
}

/** A headless Chromium (playwright gives it a fresh temporary profile and removes it on close). */
export interface HeadlessBrowser {
  readonly browser: Browser;
  newPage(): Promise<Page>;
  /** Saves a PNG of `page` under the artifacts folder and returns its path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<HeadlessBrowser> {
  const executablePath = chromiumPath();
  if (!existsSync(executablePath)) {
    throw new Error(`no Chromium at ${executablePath}: install Debian's chromium (apt-get install -y chromium) or set RAFTKV_CHROMIUM`);
  }
  // The background-networking flags keep Chromium from calling out: this machine's network is
  // closed, and those connections would fail at every start.
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    newPage: async () => browser.newPage({ viewport: { width: 1280, height: 800 } }),
    screenshot: async (page, name) => {
      const dir = browserArtifactsDir();
      await mkdir(dir, { recursive: true });
      const file = path.join(dir, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: async () => browser.close(),
  };
}
