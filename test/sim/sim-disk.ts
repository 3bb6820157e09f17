import type { Entry, HardState, LogPosition, Ready, Snapshot } from '../../src/raft/index.js';
import { emptyStateMachine, type SimStateMachine } from './sim-state-machine.js';

/**
 * What survives a crash of a simulated node: exactly what a real node keeps in LevelDB.
 * Every write here stands for one atomic, synced batch.
 */
export class SimDisk {
  hardState: HardState = { term: 0, vote: null, commit: 0 };
  snapshot: Snapshot | null = null;
  compactedTo: LogPosition = { index: 0, term: 0 };
  // Invariant: entries[i].index === compactedTo.index + 1 + i.
  entries: Entry[] = [];
  stateMachine: SimStateMachine = emptyStateMachine;

  lastIndex(): number {
    return this.compactedTo.index + this.entries.length;
  }

  termAt(index: number): number | undefined {
    if (index === this.compactedTo.index) return this.compactedTo.term;
    if (index < this.compactedTo.index || index > this.lastIndex()) return undefined;
    return this.entries[index - this.compactedTo.index - 1]?.term;
  }

  /** Step 1 of the Ready contract: snapshot, then entries (overwriting from their first index), then hard state. */
  persist(ready: Ready): void {
    if (ready.snapshot !== null) {
      this.snapshot = ready.snapshot;
      this.compactedTo = { index: ready.snapshot.meta.index, term: ready.snapshot.meta.term };
      this.entries = [];
    }
    const first = ready.entries[0];
    if (first !== undefined) {
      this.entries.length = Math.max(0, first.index - this.compactedTo.index - 1);
      for (const entry of ready.entries) {
        if (entry.index > this.compactedTo.index) this.entries.push(entry);
      }
    }
    if (ready.hardState !== null) this.hardState = ready.hardState;
  }

  /** A local snapshot and the log compaction that goes with it, in one batch. */
  compact(snapshot: Snapshot, compactedTo: LogPosition): void {
    this.snapshot = snapshot;
    if (compactedTo.index > this.compactedTo.index) {
      this.entries = this.entries.slice(compactedTo.index - this.compactedTo.index);
      this.compactedTo = compactedTo;
    }
  }
}
