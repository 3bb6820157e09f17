import { describe, expect, it } from 'vitest';
import { nodeId, type Message } from '../../src/raft/index.js';
import { AppendInbox } from '../../src/server/append-inbox.js';

type Append = Extract<Message, { readonly type: 'append' }>;

function append(prevLogIndex: number, count: number, bytes = 10): Append {
  const entries = Array.from({ length: count }, (_, i) => ({ index: prevLogIndex + i + 1, term: 1, type: 'normal' as const, data: new Uint8Array(bytes) }));
  return { type: 'append', from: nodeId('n1'), to: nodeId('n2'), term: 1, prevLogIndex, prevLogTerm: 1, entries, commit: 0 };
}

const firsts = (messages: readonly Append[]): number[] => messages.map((m) => m.prevLogIndex);

describe('AppendInbox', () => {
  it('hands messages out in arrival order, as many as fit in the entry bound', () => {
    const inbox = new AppendInbox(100);
    for (let i = 0; i < 5; i++) inbox.push(append(i * 10, 10));
    expect(inbox.entryCount).toBe(50);
    expect(firsts(inbox.take(25, 1e9))).toEqual([0, 10]);
    expect(firsts(inbox.take(25, 1e9))).toEqual([20, 30]);
    expect(inbox.entryCount).toBe(10);
    expect(firsts(inbox.take(25, 1e9))).toEqual([40]);
    expect(inbox.length).toBe(0);
    expect(inbox.take(25, 1e9)).toEqual([]);
  });

  it('respects the byte bound, and always hands out at least one message', () => {
    const inbox = new AppendInbox(100);
    inbox.push(append(0, 10, 100));
    inbox.push(append(10, 1, 100));
    expect(firsts(inbox.take(5, 50))).toEqual([0]);
    expect(firsts(inbox.take(100, 1000))).toEqual([10]);
  });

  it('refuses messages past its bound, and takes them again once drained', () => {
    const inbox = new AppendInbox(2);
    expect(inbox.push(append(0, 1))).toBe(true);
    expect(inbox.push(append(1, 1))).toBe(true);
    expect(inbox.push(append(2, 1))).toBe(false);
    expect(inbox.length).toBe(2);
    inbox.take(100, 1e9);
    expect(inbox.push(append(2, 1))).toBe(true);
  });

  it('keeps order across many takes (its storage is compacted as it goes)', () => {
    const inbox = new AppendInbox(10_000);
    for (let i = 0; i < 5000; i++) inbox.push(append(i, 1));
    const seen: number[] = [];
    for (let round = 0; round < 10 && inbox.length > 0; round++) {
      seen.push(...firsts(inbox.take(700, 1e9)));
      inbox.push(append(5000 + round, 1));
    }
    while (inbox.length > 0) seen.push(...firsts(inbox.take(700, 1e9)));
    expect(seen).toEqual(Array.from({ length: 5010 }, (_, i) => i));
  });
});
