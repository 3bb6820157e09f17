/** One second of client operations answered by a node: what the live page charts. */
export interface LiveSample {
  /** The second's start, a whole second of the wall clock (so the members' seconds line up). */
  readonly atMs: number;
  /** put, delete and compareAndSwap answered (any status). */
  readonly writes: number;
  /** get and range answered (any status). */
  readonly reads: number;
  /** Of those, the ones answered with another status than OK (not the leader, timeout, ...). */
  readonly errors: number;
  /** Latency quantiles of those operations, from arrival to answer, to within 19% (0 without operations). */
  readonly p50Ms: number;
  readonly p99Ms: number;
}

const writeMethods: ReadonlySet<string> = new Set(['put', 'delete', 'compareAndSwap']);
const readMethods: ReadonlySet<string> = new Set(['get', 'range']);

/** Buckets of the per-second latency histogram: bucket i holds latencies up to lowestMs * 2^(i/4). */
const lowestMs = 0.05;
const bucketsPerDoubling = 4;
/** 0.05 ms * 2^(84/4) is about 105 s: past any request deadline. */
const bucketCount = 85;

/** The upper bound of latency bucket `i`, in ms. */
function bucketUpperMs(i: number): number {
  return lowestMs * 2 ** (i / bucketsPerDoubling);
}

function bucketOf(ms: number): number {
  if (ms <= lowestMs) return 0;
  return Math.min(bucketCount - 1, Math.ceil(Math.log2(ms / lowestMs) * bucketsPerDoubling));
}

export interface LiveStatsOptions {
  /** Seconds kept; older ones are dropped. */
  readonly samplesMax: number;
  /** Wall-clock milliseconds (injected for tests). */
  readonly clock: () => number;
}

export const defaultLiveStatsOptions: LiveStatsOptions = { samplesMax: 300, clock: () => Date.now() };

/**
 * A bounded ring of per-second samples of the client operations a node answered (those the
 * metrics' request counter sees), for the live page. Recording one operation is a few
 * increments; the quantiles are computed once a second, when the second is closed.
 */
export class LiveStats {
  private readonly options: LiveStatsOptions;
  // Invariant: at most options.samplesMax entries, oldest first, atMs strictly increasing.
  private readonly samples: LiveSample[] = [];
  private secondStartMs: number;
  private writes = 0;
  private reads = 0;
  private errors = 0;
  private readonly latencyBuckets = new Uint32Array(bucketCount);
  private timer: NodeJS.Timeout | null = null;

  constructor(options: Partial<LiveStatsOptions> = {}) {
    this.options = { ...defaultLiveStatsOptions, ...options };
    if (!Number.isInteger(this.options.samplesMax) || this.options.samplesMax < 1) throw new RangeError(`samplesMax must be a positive integer, not ${this.options.samplesMax}`);
    this.secondStartMs = wholeSecond(this.options.clock());
  }

  /** One client operation answered: its method, whether it succeeded, and how long it took. */
  observe(method: string, ok: boolean, seconds: number): void {
    if (writeMethods.has(method)) this.writes += 1;
    else if (readMethods.has(method)) this.reads += 1;
    else return;
    if (!ok) this.errors += 1;
    const bucket = bucketOf(seconds * 1000);
    this.latencyBuckets[bucket] = (this.latencyBuckets[bucket] ?? 0) + 1;
  }

  /**
   * Closes the current second if the clock has passed it. Seconds with no timer run in between
   * (a held event loop) leave a gap rather than a made-up zero.
   */
  closeSecond(): void {
    const nowMs = this.options.clock();
    if (nowMs < this.secondStartMs + 1000) return;
    const count = this.writes + this.reads;
    this.samples.push({
      atMs: this.secondStartMs,
      writes: this.writes,
      reads: this.reads,
      errors: this.errors,
      p50Ms: count === 0 ? 0 : this.quantileMs(0.5, count),
      p99Ms: count === 0 ? 0 : this.quantileMs(0.99, count),
    });
    if (this.samples.length > this.options.samplesMax) this.samples.shift();
    this.writes = 0;
    this.reads = 0;
    this.errors = 0;
    this.latencyBuckets.fill(0);
    this.secondStartMs = wholeSecond(nowMs);
  }

  /** The closed seconds kept, oldest first; `last` limits them to the most recent ones. */
  recent(last = this.options.samplesMax): readonly LiveSample[] {
    return this.samples.slice(Math.max(0, this.samples.length - last));
  }

  /** Closes a second at each whole second of the clock, until `stop()`. The timer is unref()'d. */
  start(): void {
    if (this.timer !== null) return;
    const schedule = (): void => {
      const delayMs = 1000 - (this.options.clock() % 1000) + 1;
      this.timer = setTimeout(() => {
        this.closeSecond();
        schedule();
      }, delayMs);
      this.timer.unref();
    };
    schedule();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private quantileMs(q: number, count: number): number {
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (let i = 0; i < bucketCount; i++) {
      seen += this.latencyBuckets[i] ?? 0;
      if (seen >= rank) return Math.round(bucketUpperMs(i) * 1000) / 1000;
    }
    return Math.round(bucketUpperMs(bucketCount - 1) * 1000) / 1000;
  }
}

function wholeSecond(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}
