/**
 * The watch check: what each watcher delivered against the writes the workload made. Every
 * value is written once, so an event names its write. Over the watcher's window [start, end]:
 * events in revision order, each once; none for a value nobody wrote under the watched prefix
 * (a phantom); an acknowledged write's event at the revision its put answered; and every
 * acknowledged write in the window seen (a missing one is a gap). Writes whose outcome is
 * unknown may appear or not, but at most once.
 */

export interface WatchedEvent {
  readonly revision: number;
  readonly key: string;
  readonly value: string;
  readonly type: 'put' | 'delete';
}

export interface WatchWrite {
  readonly key: string;
  readonly value: string;
  /** The put's answered revision; null: the outcome is unknown (timeout, unavailable). */
  readonly revision: number | null;
}

export interface WatcherRecord {
  readonly name: string;
  readonly prefix: string;
  /** The first revision the watch asked for. */
  readonly startRevision: number;
  /** Every event up to it was delivered (the watcher's next revision - 1 when it stopped). */
  readonly endRevision: number;
  readonly events: readonly WatchedEvent[];
  /** How the watch ended if not by the harness's cancel (e.g. CompactedError). */
  readonly error: string | null;
}

export interface WatchCheckResult {
  readonly watchers: number;
  readonly eventsChecked: number;
  /** Acknowledged writes inside some watcher's window that its events were compared with. */
  readonly writesChecked: number;
  readonly problems: readonly string[];
}

/** Problems listed per watcher before the rest are only counted. */
const problemsShownMax = 10;

export function checkWatchers(watchers: readonly WatcherRecord[], writes: readonly WatchWrite[]): WatchCheckResult {
  const byValue = new Map<string, WatchWrite>();
  for (const write of writes) byValue.set(write.value, write);
  const problems: string[] = [];
  let eventsChecked = 0;
  let writesChecked = 0;
  for (const watcher of watchers) {
    const found: string[] = [];
    const note = (problem: string): void => {
      found.push(problem);
    };
    if (watcher.error !== null) note(`ended with ${watcher.error}`);
    const seen = new Map<string, number>();
    let previous = 0;
    for (const [i, event] of watcher.events.entries()) {
      eventsChecked++;
      if (event.revision < previous) note(`event #${i} (${event.key}=${event.value}) at revision ${event.revision} after revision ${previous}: out of order`);
      previous = Math.max(previous, event.revision);
      if (event.revision < watcher.startRevision || event.revision > watcher.endRevision) note(`event #${i} at revision ${event.revision} outside its window [${watcher.startRevision}, ${watcher.endRevision}]`);
      if (!event.key.startsWith(watcher.prefix)) note(`event #${i} for key ${event.key}, outside the watched prefix ${watcher.prefix}`);
      const write = byValue.get(event.value);
      if (event.type !== 'put' || write === undefined || write.key !== event.key) {
        note(`phantom event #${i}: ${event.type} ${event.key}=${event.value} at revision ${event.revision} matches no write`);
        continue;
      }
      const times = (seen.get(event.value) ?? 0) + 1;
      seen.set(event.value, times);
      if (times === 2) note(`duplicate: ${event.key}=${event.value} delivered more than once (again at revision ${event.revision})`);
      if (write.revision !== null && write.revision !== event.revision) note(`${event.key}=${event.value} delivered at revision ${event.revision}, but its put answered revision ${write.revision}`);
    }
    for (const write of writes) {
      if (write.revision === null || !write.key.startsWith(watcher.prefix)) continue;
      if (write.revision < watcher.startRevision) continue;
      if (write.revision > watcher.endRevision) {
        note(`acknowledged ${write.key}=${write.value} at revision ${write.revision} is past where the watcher stopped (${watcher.endRevision})`);
        continue;
      }
      writesChecked++;
      if (!seen.has(write.value)) note(`gap: acknowledged ${write.key}=${write.value} at revision ${write.revision} never delivered`);
    }
    for (const problem of found.slice(0, problemsShownMax)) problems.push(`watcher ${watcher.name}: ${problem}`);
    if (found.length > problemsShownMax) problems.push(`watcher ${watcher.name}: ${found.length - problemsShownMax} more problems`);
  }
  return { watchers: watchers.length, eventsChecked, writesChecked, problems };
}
