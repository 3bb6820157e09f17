import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** The process's root logger: JSON lines on stderr so stdout stays for command output. */
export function createLogger(options: {
  level: LevelWithSilent;
  bindings?: Record<string, unknown>;
  /** Fields computed for every line (e.g. the node's current term and role). */
  mixin?: () => Record<string, unknown>;
}): Logger {
  return pino(
    { level: options.level, base: { pid: process.pid, ...options.bindings }, ...(options.mixin ? { mixin: options.mixin } : {}) },
    pino.destination({ fd: 2, sync: false }),
  );
}

export const logLevels: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
