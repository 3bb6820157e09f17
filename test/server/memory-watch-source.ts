/** An in-memory WatchSource for tests of the watch hub and the SDK's watches. */
import { CompactedError, selectorContains, type KeySelector, type KvEvent, type StateChange } from '../../src/kv/index.js';
import type { Index } from '../../src/raft/index.js';
import { eventKey, type WatchOutput, type WatchSource } from '../../src/server/watch-hub.js';

export const enc = (text: string): Uint8Array => Buffer.from(text);

export function put(revision: number, key: string, value: string): KvEvent {
  return { type: 'put', revision: revision as Index, kv: { key: enc(key), value: enc(value), createRevision: revision, modRevision: revision, version: 1 }, prevKv: null };
}

/** A history in memory: apply() reports a batch live; reads can be held to interleave live batches with them. */
export class MemorySource implements WatchSource {
  history: KvEvent[] = [];
  appliedIndex = 0 as Index;
  compactRevision = 0;
  readonly listeners = new Set<(change: StateChange) => void>();
  private held: (() => void)[] | null = null;
  reads = 0;

  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies events (all at one revision each, as given) and a batch through `through`. */
  apply(events: KvEvent[], through: number, report = true): void {
    this.history.push(...events);
    this.appliedIndex = through as Index;
    if (report) for (const listener of this.listeners) listener({ kind: 'events', events, revision: through as Index });
  }

  reset(revision: number): void {
    this.appliedIndex = revision as Index;
    for (const listener of this.listeners) listener({ kind: 'reset', revision: revision as Index });
  }

  hold(): void {
    this.held = [];
  }

  release(): void {
    const held = this.held ?? [];
    this.held = null;
    for (const go of held) go();
  }

  async readEvents(from: Index, selector: KeySelector, limit: number): Promise<{ events: KvEvent[]; more: boolean; revision: Index }> {
    this.reads++;
    const revision = this.appliedIndex;
    if (from < this.compactRevision) throw new CompactedError(from, this.compactRevision as Index);
    const matching = this.history.filter((event) => event.revision >= from && event.revision <= revision && selectorContains(selector, eventKey(event)));
    let events = matching.slice(0, limit);
    let more = matching.length > limit;
    if (more) {
      // Never split a revision: drop the last one's events if it continues past the page.
      const last = events[events.length - 1]!.revision;
      if (matching[limit]!.revision === last) {
        const trimmed = events.filter((event) => event.revision !== last);
        // A revision larger than a page comes whole.
        events = trimmed.length > 0 ? trimmed : matching.filter((event) => event.revision === last);
      }
      more = true;
    }
    if (this.held !== null) await new Promise<void>((resolve) => this.held!.push(resolve));
    else await Promise.resolve();
    return { events, more, revision };
  }
}

export class Sink {
  outputs: WatchOutput[] = [];
  writable = true;
  write(output: WatchOutput): boolean {
    this.outputs.push(output);
    return this.writable;
  }
  eventRevisions(watchId: number): number[] {
    return this.outputs.flatMap((output) => (output.kind === 'events' && output.watchId === watchId ? output.events.map((event) => event.revision) : []));
  }
  eventValues(watchId: number): string[] {
    return this.outputs.flatMap((output) => (output.kind === 'events' && output.watchId === watchId ? output.events.map((event) => (event.type === 'put' ? Buffer.from(event.kv.value).toString() : 'deleted')) : []));
  }
}

