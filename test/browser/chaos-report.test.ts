import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, type HeadlessBrowser } from './chromium.js';

/**
 * report.html of two real chaos runs on the process backend, opened in Chromium: a short run
 * that passes, and the stale-reads canary (as .ci/run runs it) that must fail, whose report must
 * show the failing operations and why. Set RAFTKV_UPDATE_DOCS_IMAGES=1 to also refresh
 * docs/images/chaos-report-violation.png, the README's picture: the canary's page after
 * "show on the timeline" of its first failing set.
 */
const root = fileURLToPath(new URL('../../', import.meta.url));
const runsDir = mkdtempSync(path.join(tmpdir(), 'raftkv-chaos-report-'));
const children = new Set<ChildProcess>();

interface CliRun {
  readonly code: number | null;
  readonly output: string;
  readonly summary: string;
  readonly outDir: string;
}

/** `npm run chaos -- ARGS --out DIR`, as .ci/run does it; SIGTERM (the harness cleans up) past the deadline. */
function runChaosCli(name: string, args: readonly string[], env: NodeJS.ProcessEnv = {}, deadlineMs = 240_000): Promise<CliRun> {
  const outDir = path.join(runsDir, name);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'chaos/main.ts', ...args, '--out', outDir], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), deadlineMs);
    timer.unref();
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      const summary = output.split('\n').filter((line) => line.startsWith('chaos: ')).pop() ?? '';
      resolve({ code, output, summary, outDir });
    });
  });
}

/** Opens a report and collects every console error and uncaught exception of the page. */
async function openReport(browser: HeadlessBrowser, file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(String(error)));
  await page.goto(pathToFileURL(file).href);
  // Page scripts are strings: this project's TypeScript has no DOM types.
  await page.waitForFunction('"chaosReport" in window', undefined, { timeout: 30_000 });
  return { page, errors };
}

interface Drawn {
  readonly lanes: number;
  readonly operations: number;
  readonly faults: number;
  readonly violations: number;
  readonly marked: number;
}

/** Pixels of the timeline canvas in a colour: what was painted, not just what the data says. */
async function canvasPixels(page: Page, [r, g, b]: readonly [number, number, number]): Promise<number> {
  return (await page.evaluate(`(() => {
    const canvas = document.getElementById('timeline-canvas');
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let count = 0;
    for (let i = 0; i < pixels.length; i += 4) if (pixels[i] === ${r} && pixels[i + 1] === ${g} && pixels[i + 2] === ${b}) count++;
    return count;
  })()`)) as number;
}

/** What the page says it drew (window.chaosReport). */
async function drawnOf(page: Page): Promise<Drawn> {
  return (await page.evaluate('({ ...window.chaosReport, view: undefined })')) as Drawn;
}

const okGreen = [0x38, 0xa1, 0x69] as const;
const violationPink = [0xd5, 0x3f, 0x8c] as const;

describe('the chaos report in Chromium', () => {
  let browser: HeadlessBrowser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    for (const child of children) child.kill('SIGKILL');
    rmSync(runsDir, { recursive: true, force: true });
  });

  it('a passing run: lanes, operations, faults and the chart render without errors', async () => {
    const run = await runChaosCli('passing', ['--backend', 'process', '--nodes', '3', '--nemesis', 'partition-leader,kill', '--duration', '15', '--clients', '3', '--seed', '7']);
    expect(run.code, run.output).toBe(0);
    expect(run.summary).toContain('linearizable=yes');
    const file = path.join(run.outDir, 'report.html');
    expect(existsSync(file), run.output).toBe(true);

    const { page, errors } = await openReport(browser, file);
    const drawn = await drawnOf(page);
    expect(drawn.lanes).toBe(4); // three clients and the final reads
    expect(drawn.operations).toBeGreaterThan(50);
    expect(drawn.faults).toBeGreaterThanOrEqual(1);
    expect(drawn.violations).toBe(0);
    await expect.poll(() => page.locator('#verdict').textContent()).toBe('PASSED');
    expect(await page.locator('#fault-list tr').count()).toBe(drawn.faults + 1);
    expect(await page.locator('#findings .finding.violation').count()).toBe(0);
    expect(await page.locator('#rates canvas').count()).toBeGreaterThan(0);
    expect(await canvasPixels(page, okGreen)).toBeGreaterThan(100);
    // Hovering along client 0's lane finds an operation and shows what it was.
    const y = (await page.evaluate('window.chaosReport.laneCenterY(0)')) as number;
    const box = await page.locator('#timeline-canvas').boundingBox();
    let tooltip = '';
    for (let x = 130; x < (box?.width ?? 0) && tooltip === ''; x += 4) {
      await page.mouse.move((box?.x ?? 0) + x, (box?.y ?? 0) + y);
      if (await page.locator('#tooltip').isVisible()) tooltip = (await page.locator('#tooltip').textContent()) ?? '';
    }
    expect(tooltip).toMatch(/^#\d+ client 0 \(process \d+\)\n(get|put|cas) key "r\d"/);
    expect(tooltip).toContain('invoked:');
    await page.mouse.move(0, 0);
    await browser.screenshot(page, 'chaos-report-passing');
    expect(errors).toEqual([]);
  });

  it('the stale-reads canary: the failing operations are listed, explained and marked', async () => {
    const run = await runChaosCli(
      'canary-stale-reads',
      ['--backend', 'process', '--nodes', '3', '--duration', '25', '--clients', '5', '--seed', '11', '--nemesis', 'partition-leader,partition-half', '--unsafe-stale-reads'],
      { RAFTKV_ENABLE_UNSAFE: '1' },
    );
    expect(run.summary, `the canary was not caught:\n${run.output}`).toContain('linearizable=no');
    expect(run.code).toBe(1);
    const file = path.join(run.outDir, 'report.html');

    const { page, errors } = await openReport(browser, file);
    const drawn = await drawnOf(page);
    expect(drawn.violations).toBeGreaterThanOrEqual(1);
    expect(drawn.marked).toBeGreaterThanOrEqual(2);
    await expect.poll(() => page.locator('#verdict').textContent()).toBe('FAILED');
    const first = page.locator('#findings details.finding.violation').first();
    await expect.poll(() => first.isVisible()).toBe(true);
    const explanation = (await first.locator('.explanation').textContent()) ?? '';
    expect(explanation).toMatch(/^\d+ operations of key "[^"]+" that cannot be linearized\. /);
    expect(explanation).toContain('returned');
    const rows = first.locator('table.ops tr[data-op]');
    expect(await rows.count()).toBeGreaterThanOrEqual(2);
    expect(await first.locator('table.ops tr.blocked').isVisible()).toBe(true);
    expect(await canvasPixels(page, violationPink)).toBeGreaterThan(20);

    await browser.screenshot(page, 'chaos-report-violation');
    // "show on the timeline" zooms to the failing set and picks it out.
    const viewOf = async (): Promise<{ fromMs: number; toMs: number; focused: number }> => (await page.evaluate('window.chaosReport.view()')) as { fromMs: number; toMs: number; focused: number };
    const whole = await viewOf();
    await first.locator('button').click();
    const zoomed = await viewOf();
    expect(zoomed.focused).toBe(await rows.count());
    expect(zoomed.toMs - zoomed.fromMs).toBeLessThan(whole.toMs - whole.fromMs);
    expect(await canvasPixels(page, violationPink)).toBeGreaterThan(20);
    const zoomedShot = await browser.screenshot(page, 'chaos-report-violation-zoomed');
    if (process.env['RAFTKV_UPDATE_DOCS_IMAGES'] === '1') {
      mkdirSync(path.join(root, 'docs/images'), { recursive: true });
      copyFileSync(zoomedShot, path.join(root, 'docs/images/chaos-report-violation.png'));
    }
    expect(errors).toEqual([]);
  });
});
