/**
 * Automatic compaction of the revision history (`--history-retention`), on the model of etcd's
 * periodic and revision compactors: only the leader proposes, every node samples.
 *
 * - A duration D: every max(D/10, 1 s) the node samples (now, applied index); the leader
 *   compacts to the applied index of the newest sample at least D old, so the history kept
 *   covers at least the last D.
 * - A number of revisions N: every second, once the applied index has grown N/10 past the
 *   last compaction, the leader compacts to applied - N.
 * - 0: no automatic compaction (etcd's default); `raftkv compact` still works.
 */
import type { Index } from '../raft/index.js';
import { ConfigError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';

export type HistoryRetention =
  | { readonly kind: 'off' }
  | { readonly kind: 'duration'; readonly durationMs: number }
  | { readonly kind: 'revisions'; readonly revisions: number };

/** The default: one hour of history. */
export const defaultHistoryRetention: HistoryRetention = { kind: 'duration', durationMs: 3_600_000 };

const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `90s`, `30m`, `1h`, `500ms` (a duration), a bare integer (revisions), or 0 (off). Throws
 * ConfigError naming the setting.
 */
export function parseHistoryRetention(value: unknown, setting = 'history-retention'): HistoryRetention {
  if (value === undefined) return defaultHistoryRetention;
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') throw new ConfigError(`${setting}: must be a duration (90s, 30m, 1h) or a number of revisions, got ${JSON.stringify(value)}`);
  const bare = /^(\d{1,15})$/.exec(text.trim());
  if (bare !== null) {
    const revisions = Number(bare[1]);
    return revisions === 0 ? { kind: 'off' } : { kind: 'revisions', revisions };
  }
  const duration = /^(\d{1,12})(ms|s|m|h)$/.exec(text.trim());
  if (duration === null) throw new ConfigError(`${setting}: "${text}" is not a duration (90s, 30m, 1h), a number of revisions, or 0`);
  const durationMs = Number(duration[1]) * (unitMs[duration[2] as string] as number);
  if (durationMs === 0) return { kind: 'off' };
  if (durationMs < 1000) throw new ConfigError(`${setting}: "${text}" is below the shortest retention, 1s`);
  return { kind: 'duration', durationMs };
}

/** What the compactor needs of the node. */
export interface HistoryCompactorDeps {
  readonly retention: HistoryRetention;
  readonly isLeader: () => boolean;
  readonly appliedIndex: () => Index;
  readonly compactRevision: () => Index;
  /** Proposes compact(revision) through the log; resolves once applied (or rejects). */
  readonly compact: (revision: Index) => Promise<void>;
  readonly logger: Logger;
  /** Milliseconds now (Date.now in production). */
  readonly nowMs?: () => number;
}

/** Runs the automatic compaction on a timer, unref()'d; `stop` ends it. */
export class HistoryCompactor {
  private readonly samples: { readonly atMs: number; readonly applied: Index }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private proposing = false;

  constructor(private readonly deps: HistoryCompactorDeps) {}

  /** How often it checks, in ms; null when retention is off. */
  get periodMs(): number | null {
    const { retention } = this.deps;
    switch (retention.kind) {
      case 'off':
        return null;
      case 'duration':
        return Math.max(Math.floor(retention.durationMs / 10), 1000);
      case 'revisions':
        return 1000;
      default:
        throw new ConfigError(`unknown retention ${JSON.stringify(retention)}`);
    }
  }

  start(): void {
    const periodMs = this.periodMs;
    if (periodMs === null || this.timer !== null) return;
    this.check();
    this.timer = setInterval(() => this.check(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** One check: samples, and (on the leader) proposes a compaction when one is due. Exposed for tests. */
  check(): void {
    const target = this.target();
    if (target === null || !this.deps.isLeader() || this.proposing || target <= this.deps.compactRevision()) return;
    this.proposing = true;
    this.deps
      .compact(target)
      .then(() => this.deps.logger.info({ compactRevision: target, retention: this.deps.retention }, 'history compacted (retention)'))
      .catch((error: unknown) => this.deps.logger.debug({ err: error, revision: target }, 'automatic compaction failed; the next check tries again'))
      .finally(() => {
        this.proposing = false;
      });
  }

  /** The revision to compact to now, or null if none is due. */
  private target(): Index | null {
    const { retention } = this.deps;
    const applied = this.deps.appliedIndex();
    switch (retention.kind) {
      case 'off':
        return null;
      case 'revisions': {
        const target = applied - retention.revisions;
        return target > 0 && target - this.deps.compactRevision() >= Math.max(1, Math.floor(retention.revisions / 10)) ? target : null;
      }
      case 'duration': {
        const nowMs = (this.deps.nowMs ?? Date.now)();
        this.samples.push({ atMs: nowMs, applied });
        // The newest sample at least D old; older ones are dropped (at most ~11 are kept).
        let due: Index | null = null;
        while (this.samples.length > 0 && (this.samples[0] as { atMs: number }).atMs <= nowMs - retention.durationMs) {
          due = (this.samples.shift() as { applied: Index }).applied;
        }
        if (due !== null) this.samples.unshift({ atMs: nowMs - retention.durationMs, applied: due });
        return due !== null && due > 0 ? due : null;
      }
      default:
        return null;
    }
  }
}
