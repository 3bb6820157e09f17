/** How long to wait before reconnecting to a peer. */
export interface ReconnectBackoff {
  /** The nominal wait after the first failure. */
  readonly initialMs: number;
  /** The nominal wait never grows past this. */
  readonly maxMs: number;
}

export const defaultReconnectBackoff: ReconnectBackoff = { initialMs: 50, maxMs: 2000 };

/**
 * The wait before reconnect attempt `failures` (1 after the first failure): the nominal delay
 * doubles per failure from `initialMs` up to `maxMs`, and the actual wait is drawn uniformly
 * from [nominal/2, nominal) ("equal jitter"). Why jitter: when a node restarts, every peer
 * notices at once, and without it they would all reconnect in lock step. Why not below half:
 * a dead peer must not be hammered faster than the schedule says.
 *
 * `random` returns a number in [0, 1) (Math.random's contract); values outside are clamped.
 */
export function reconnectDelayMs(failures: number, backoff: ReconnectBackoff, random: () => number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30); // 2^30 * initialMs is past any sane maxMs
  const nominalMs = Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
  const unit = Math.min(Math.max(random(), 0), 1);
  return Math.round(nominalMs / 2 + (nominalMs / 2) * unit);
}
