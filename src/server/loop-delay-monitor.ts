import { performance } from 'node:perf_hooks';
import type { Logger } from '../shared/logger.js';

/**
 * What the drive loop did over some stretch of time: the counters a stall report names, so a
 * long turn can be traced to a catch-up (many entries sent or received), a large append, or a
 * big apply. All counts since the last `take`.
 */
export interface DriveWork {
  /** Readies handled. */
  readies: number;
  /** Entries written to the log, and their data bytes. */
  appendedEntries: number;
  appendedBytes: number;
  /** Messages handed to the transport; entries in the AppendEntries among them, and their bytes. */
  sentMessages: number;
  sentEntries: number;
  sentBytes: number;
  /** Messages taken from peers, and the entries they carried. */
  receivedMessages: number;
  receivedEntries: number;
  /** Entries applied to the state machine, and their data bytes. */
  appliedEntries: number;
  appliedBytes: number;
  /** The longest Ready, from ready() to advance(), awaits included. */
  readyMsMax: number;
}

export function emptyDriveWork(): DriveWork {
  return {
    readies: 0,
    appendedEntries: 0,
    appendedBytes: 0,
    sentMessages: 0,
    sentEntries: 0,
    sentBytes: 0,
    receivedMessages: 0,
    receivedEntries: 0,
    appliedEntries: 0,
    appliedBytes: 0,
    readyMsMax: 0,
  };
}

/** What Status reports about the event loop of a node. */
export interface LoopDelayStats {
  /** The longest the loop was held (a timer fired this late), since the process started. */
  readonly maxMs: number;
  /** The same over the last `windowMs`. */
  readonly recentMaxMs: number;
  readonly windowMs: number;
  /** Delays above `stallMs` since start: each was logged with what the drive loop did meanwhile. */
  readonly stalls: number;
  readonly stallMs: number;
}

export interface LoopDelayOptions {
  /** How often the loop is sampled: delays shorter than this may go unseen, longer ones never do. */
  readonly sampleMs: number;
  /** The span of `recentMaxMs`. */
  readonly windowMs: number;
  /** A delay above this is a stall: counted and logged. */
  readonly stallMs: number;
}

export const defaultLoopDelayOptions: LoopDelayOptions = { sampleMs: 20, windowMs: 10_000, stallMs: 100 };

/** The recent window is kept as per-bucket maxima, so it costs a fixed few numbers whatever the rate. */
const windowBuckets = 10;

/**
 * Measures how long this process's event loop is held. A timer is due every `sampleMs`; the
 * time past due when it fires is the delay, which is how long something ran without yielding
 * (the measure `perf_hooks.monitorEventLoopDelay` takes, kept here so the recent window can be
 * rotated without losing a delay that starts right after a rotation, which resetting that
 * histogram does).
 *
 * A delay above `stallMs` is logged with what the drive loop did since the previous sample
 * (`takeWork`), which is what held the loop, or ran alongside whatever did.
 */
export class LoopDelayMonitor {
  private readonly options: LoopDelayOptions;
  private readonly bucketMs: number;
  // Invariant: buckets[i] is the largest delay recorded in the bucket starting at bucketStarts[i];
  // bucketStarts is increasing and holds no bucket older than the window.
  private readonly buckets: number[] = [];
  private readonly bucketStarts: number[] = [];
  private maxMs = 0;
  private stalls = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastFiredMs = 0;
  private lastCpu: NodeJS.CpuUsage = process.cpuUsage();

  constructor(
    options: Partial<LoopDelayOptions>,
    private readonly logger: Logger,
    private readonly takeWork: () => DriveWork,
    private readonly nowMs: () => number = () => performance.now(),
  ) {
    this.options = { ...defaultLoopDelayOptions, ...options };
    for (const [name, value] of Object.entries(this.options)) {
      if (!Number.isFinite(value) || value <= 0) throw new RangeError(`loop delay monitor: ${name} must be positive, got ${value}`);
    }
    this.bucketMs = Math.max(1, Math.ceil(this.options.windowMs / windowBuckets));
  }

  start(): void {
    if (this.timer !== null) return;
    this.lastFiredMs = this.nowMs();
    this.lastCpu = process.cpuUsage();
    this.timer = setInterval(() => {
      const now = this.nowMs();
      // One getrusage per sample, not two: at 50 samples a second it showed in CPU profiles.
      const cpu = process.cpuUsage();
      const cpuMs = (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1000;
      this.record(Math.max(0, now - this.lastFiredMs - this.options.sampleMs), now, cpuMs);
      this.lastFiredMs = now;
      this.lastCpu = cpu;
    }, this.options.sampleMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Records one sample: the loop was held `delayMs` just before `atMs`, while the process used
   * `cpuMs` of CPU since the previous sample. CPU time near the delay means this process was
   * busy (its own work held the loop); far below it, the process was waiting for a CPU (a
   * machine loaded by other work).
   */
  record(delayMs: number, atMs: number, cpuMs: number | null = null): void {
    const work = this.takeWork();
    this.maxMs = Math.max(this.maxMs, delayMs);
    const bucketStart = atMs - (atMs % this.bucketMs);
    const last = this.buckets.length - 1;
    if (last >= 0 && this.bucketStarts[last] === bucketStart) {
      this.buckets[last] = Math.max(this.buckets[last] ?? 0, delayMs);
    } else {
      this.buckets.push(delayMs);
      this.bucketStarts.push(bucketStart);
    }
    this.dropOldBuckets(atMs);
    if (delayMs > this.options.stallMs) {
      this.stalls += 1;
      const cpu = cpuMs === null ? {} : { cpuMs: Math.round(cpuMs) };
      this.logger.warn({ delayMs: Math.round(delayMs), ...cpu, stallMs: this.options.stallMs, ...work, readyMsMax: Math.round(work.readyMsMax) }, 'event loop stalled');
    }
  }

  stats(atMs: number = this.nowMs()): LoopDelayStats {
    this.dropOldBuckets(atMs);
    // A delay building up right now (the loop is held while Status is asked) cannot be seen from
    // inside the loop; what can be seen is everything up to this turn.
    return {
      maxMs: this.maxMs,
      recentMaxMs: this.buckets.reduce((max, delay) => Math.max(max, delay), 0),
      windowMs: this.options.windowMs,
      stalls: this.stalls,
      stallMs: this.options.stallMs,
    };
  }

  private dropOldBuckets(atMs: number): void {
    while (this.bucketStarts.length > 0 && (this.bucketStarts[0] ?? 0) + this.bucketMs <= atMs - this.options.windowMs) {
      this.bucketStarts.shift();
      this.buckets.shift();
    }
  }
}
