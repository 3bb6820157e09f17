import { describe, expect, it } from 'vitest';
import { RaftLog, entryBytes } from '../../src/raft/raft-log.js';
import type { Entry } from '../../src/raft/index.js';

const entry = (index: number, term: number, bytes: number): Entry => ({ index, term, type: 'normal', data: new Uint8Array(bytes) });
const sum = (entries: readonly Entry[]): number => entries.reduce((total, e) => total + entryBytes(e), 0);

describe('RaftLog.bytes (kept as a running total: status() and the driver read it often)', () => {
  it('follows restore from disk, appends, a conflicting suffix, compaction and a snapshot', () => {
    const restored = [entry(1, 1, 10), entry(2, 1, 20)];
    const log = new RaftLog({ index: 0, term: 0 }, restored, 2, 2);
    expect(log.bytes()).toBe(sum(restored));
    log.append([entry(3, 1, 30), entry(4, 1, 40)]);
    expect(log.bytes()).toBe(sum([...restored, entry(3, 1, 30), entry(4, 1, 40)]));
    // §5.3: a new leader's entry 3 of term 2 replaces 3 and 4 of term 1.
    expect(log.maybeAppend(2, 1, 2, [entry(3, 2, 5)])).toBe(3);
    expect(log.bytes()).toBe(sum([...restored, entry(3, 2, 5)]));
    log.stableTo({ index: 3, term: 2 });
    log.commitTo(3);
    log.appliedTo(3);
    log.compact(2);
    expect(log.bytes()).toBe(entryBytes(entry(3, 2, 5)));
    log.restore({ meta: { index: 10, term: 3, membership: { voters: [], learners: [] } }, data: new Uint8Array(0) });
    expect(log.bytes()).toBe(0);
  });
});
