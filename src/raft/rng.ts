/**
 * The only source of randomness the core sees. Integer-only so that a seed replays the same run
 * on any platform (TigerBeetle's rule); injected so tests choose the seed.
 */
export interface Rng {
  /** A uniformly distributed integer in [0, bound). `bound` must be a positive integer below 2^32. */
  int(bound: number): number;
}
