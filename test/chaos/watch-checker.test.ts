import { describe, expect, it } from 'vitest';
import { checkWatchers, type WatcherRecord, type WatchWrite } from '../../chaos/checker/watch.js';

const writes: WatchWrite[] = [
  { key: 'w0/k0', value: '0-1', revision: 10 },
  { key: 'w0/k1', value: '0-2', revision: 11 },
  { key: 'w0/k0', value: '1-1', revision: null },
  { key: 'w1/k0', value: '1-2', revision: 13 },
];

function watcher(events: WatcherRecord['events'], overrides: Partial<WatcherRecord> = {}): WatcherRecord {
  return { name: 'w0/#0', prefix: 'w0/', startRevision: 10, endRevision: 13, events, error: null, ...overrides };
}

const put = (revision: number, key: string, value: string) => ({ revision, key, value, type: 'put' as const });

describe('checkWatchers', () => {
  it('accepts every acknowledged write once, in order, with an unknown-outcome write seen or not', () => {
    const seen = checkWatchers([watcher([put(10, 'w0/k0', '0-1'), put(11, 'w0/k1', '0-2'), put(12, 'w0/k0', '1-1')])], writes);
    expect(seen).toEqual({ watchers: 1, eventsChecked: 3, writesChecked: 2, problems: [] });
    expect(checkWatchers([watcher([put(10, 'w0/k0', '0-1'), put(11, 'w0/k1', '0-2')])], writes).problems).toEqual([]);
  });

  it('finds a gap, a duplicate, a phantom, disorder and a wrong revision', () => {
    const problems = (events: WatcherRecord['events']) => checkWatchers([watcher(events)], writes).problems;
    expect(problems([put(11, 'w0/k1', '0-2')])).toEqual(['watcher w0/#0: gap: acknowledged w0/k0=0-1 at revision 10 never delivered']);
    expect(problems([put(10, 'w0/k0', '0-1'), put(10, 'w0/k0', '0-1'), put(11, 'w0/k1', '0-2')])).toEqual(['watcher w0/#0: duplicate: w0/k0=0-1 delivered more than once (again at revision 10)']);
    expect(problems([put(10, 'w0/k0', '0-1'), put(11, 'w0/k1', '0-2'), put(12, 'w0/k1', 'never')])[0]).toMatch(/phantom event #2/);
    expect(problems([put(11, 'w0/k1', '0-2'), put(10, 'w0/k0', '0-1')])[0]).toMatch(/out of order/);
    expect(problems([put(12, 'w0/k0', '0-1'), put(11, 'w0/k1', '0-2')]).join('\n')).toMatch(/delivered at revision 12, but its put answered revision 10/);
  });

  it('fails a watcher that stopped before the last acknowledged write, or ended with an error', () => {
    expect(checkWatchers([watcher([put(10, 'w0/k0', '0-1')], { endRevision: 10 })], writes).problems).toEqual(['watcher w0/#0: acknowledged w0/k1=0-2 at revision 11 is past where the watcher stopped (10)']);
    expect(checkWatchers([watcher([put(10, 'w0/k0', '0-1'), put(11, 'w0/k1', '0-2')], { error: 'CompactedError: gone' })], writes).problems).toEqual(['watcher w0/#0: ended with CompactedError: gone']);
  });
});
