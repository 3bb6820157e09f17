/**
 * Deadlines and owned timers for the harness. Nothing here sleeps on hope: `waitUntil` polls a
 * condition until it holds or its deadline passes, and every timer is cleared when its promise
 * settles or its signal aborts.
 */

/** A condition did not hold before its deadline. `lastError` is the last failure of the check, if any. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
  readonly code = 'ERR_CHAOS_DEADLINE';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** The run was interrupted (SIGINT, or a caller aborted it). */
export class AbortedError extends Error {
  override readonly name = 'AbortedError';
  readonly code = 'ERR_CHAOS_ABORTED';
}

/** Throws {@link AbortedError} if `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new AbortedError('aborted', { cause: signal.reason });
}

/**
 * Resolves after `ms`, or rejects with {@link AbortedError} as soon as `signal` fires. The timer
 * is cleared either way; `unref` keeps it from holding the process open on its own.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(new AbortedError('aborted', { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('aborted', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Like {@link sleep} but never rejects: resolves `true` after `ms`, or `false` at once when
 * `signal` fires. For loops that stop politely (workload clients between operations).
 */
export function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  return sleep(ms, signal).then(
    () => true,
    () => false,
  );
}

export interface WaitOptions {
  readonly timeoutMs: number;
  /** Between two checks. */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Polls `check` until it returns something other than undefined, and returns that. Throws
 * {@link DeadlineError} naming `what` once `timeoutMs` has passed (the check is always run at
 * least once), or {@link AbortedError} when the signal fires. A check that throws counts as
 * "not yet"; its error is kept as the deadline error's cause.
 */
export async function waitUntil<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  options: WaitOptions,
): Promise<T> {
  const deadlineMs = performance.now() + options.timeoutMs;
  const intervalMs = options.intervalMs ?? 100;
  let lastError: unknown;
  for (;;) {
    throwIfAborted(options.signal);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    const remainingMs = deadlineMs - performance.now();
    if (remainingMs <= 0) {
      const reason = lastError === undefined ? '' : `: ${(lastError as Error).message ?? String(lastError)}`;
      throw new DeadlineError(`timed out after ${options.timeoutMs} ms waiting for ${what}${reason}`, { cause: lastError });
    }
    await sleep(Math.min(intervalMs, remainingMs), options.signal);
  }
}

/**
 * Settles like `promise`, but rejects with {@link DeadlineError} naming `what` if it has not
 * settled within `timeoutMs`. The promise itself is not cancelled; its late result is ignored.
 */
export function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(`${what} did not finish within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

/** Milliseconds on the harness's monotonic clock. */
export function nowMs(): number {
  return performance.now();
}
