import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

type StageTrace = typeof import('../../src/shared/stage-trace.js');

/** The module reads RAFTKV_TRACE_STAGES once, when loaded: load a fresh copy with `value`. */
async function loadWith(value: string | undefined): Promise<StageTrace> {
  if (value === undefined) delete process.env['RAFTKV_TRACE_STAGES'];
  else process.env['RAFTKV_TRACE_STAGES'] = value;
  vi.resetModules();
  return import('../../src/shared/stage-trace.js');
}

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'raftkv-stage-trace-'));
  dirs.push(dir);
  return dir;
};

afterEach(() => {
  delete process.env['RAFTKV_TRACE_STAGES'];
  vi.resetModules();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('stage tracing (RAFTKV_TRACE_STAGES)', () => {
  it('is off when the variable is unset or empty', async () => {
    for (const value of [undefined, '']) {
      const trace = await loadWith(value);
      expect(trace.stageTraceOn).toBe(false);
      expect(trace.prepareStageTrace()).toBeNull();
    }
  });

  it('creates the directory and the file of this process when on', async () => {
    const dir = join(tempDir(), 'nested', 'trace');
    const trace = await loadWith(dir);
    expect(trace.stageTraceOn).toBe(true);
    const file = trace.prepareStageTrace();
    expect(file).toBe(join(dir, `stages-${process.pid}.jsonl`));
    expect(existsSync(file as string)).toBe(true);
  });

  it('refuses a directory it cannot write with a ConfigError naming the variable and the path', async () => {
    const notADirectory = join(tempDir(), 'a-file');
    writeFileSync(notADirectory, 'x');
    const trace = await loadWith(join(notADirectory, 'trace'));
    expect(() => trace.prepareStageTrace()).toThrow(expect.objectContaining({ name: 'ConfigError', message: expect.stringContaining('RAFTKV_TRACE_STAGES') }));
    expect(() => trace.prepareStageTrace()).toThrow(notADirectory);
  });
});
