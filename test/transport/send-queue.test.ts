import { describe, expect, it } from 'vitest';
import { nodeId, type Message } from '../../src/raft/index.js';
import { SendQueue, takeBatch } from '../../src/transport/send-queue.js';
import { heartbeat } from './fixtures.js';

const n1 = nodeId('n1');
const n2 = nodeId('n2');
const commits = (messages: readonly (Message | undefined)[]): (number | undefined)[] =>
  messages.map((message) => (message?.type === 'heartbeat' ? message.commit : undefined));
/** Sizes by commit number, 10 bytes unless listed. */
const sized =
  (sizes: Record<number, number> = {}) =>
  (message: Message): number =>
    message.type === 'heartbeat' ? (sizes[message.commit] ?? 10) : 10;

describe('SendQueue', () => {
  it('is FIFO and never holds more than its capacity, dropping the oldest', () => {
    const queue = new SendQueue(3, 1e9, sized());
    const dropped: Message[][] = [];
    for (let commit = 1; commit <= 7; commit += 1) dropped.push(queue.push(heartbeat(n1, n2, commit)));
    expect(queue.length).toBe(3);
    expect(dropped.map(commits)).toEqual([[], [], [], [1], [2], [3], [4]]);
    expect(commits(queue.clear())).toEqual([5, 6, 7]);
    expect(queue.length).toBe(0);
    expect(queue.byteLength).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });

  it('never holds more than bytesMax, dropping as many of the oldest as it takes', () => {
    const queue = new SendQueue(100, 100, sized({ 4: 80, 5: 95 }));
    for (let commit = 1; commit <= 3; commit += 1) queue.push(heartbeat(n1, n2, commit));
    expect(queue.byteLength).toBe(30);
    expect(commits(queue.push(heartbeat(n1, n2, 4)))).toEqual([1]);
    expect(queue.byteLength).toBe(100);
    expect(commits(queue.push(heartbeat(n1, n2, 5)))).toEqual([2, 3, 4]);
    expect(queue.byteLength).toBe(95);
  });

  it('does not queue a message larger than bytesMax by itself', () => {
    const queue = new SendQueue(100, 100, sized({ 2: 101 }));
    queue.push(heartbeat(n1, n2, 1));
    expect(commits(queue.push(heartbeat(n1, n2, 2)))).toEqual([2]);
    expect(commits(queue.clear())).toEqual([1]);
  });

  it('removes matching messages and keeps the rest in order across the ring wrap', () => {
    const queue = new SendQueue(4, 1e9, sized());
    for (let commit = 1; commit <= 6; commit += 1) queue.push(heartbeat(n1, n2, commit));
    expect(commits(queue.removeWhere((message) => message.type === 'heartbeat' && message.commit % 2 === 0))).toEqual([4, 6]);
    expect(queue.byteLength).toBe(20);
    expect(commits(queue.clear())).toEqual([3, 5]);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new SendQueue(0, 1, sized())).toThrow(/positive integer/);
  });
});

describe('takeBatch', () => {
  const fill = (count: number): SendQueue => {
    const queue = new SendQueue(100, 1e9, sized());
    for (let commit = 1; commit <= count; commit += 1) queue.push(heartbeat(n1, n2, commit));
    return queue;
  };

  it('takes at most messagesMax messages', () => {
    const queue = fill(10);
    expect(commits(takeBatch(queue, { messagesMax: 4, bytesMax: 1e9 }, () => 1).batch)).toEqual([1, 2, 3, 4]);
    expect(queue.length).toBe(6);
  });

  it('stops before the message that would pass bytesMax', () => {
    const queue = fill(10);
    expect(commits(takeBatch(queue, { messagesMax: 100, bytesMax: 250 }, () => 100).batch)).toEqual([1, 2]);
    expect(queue.length).toBe(8);
  });

  it('hands back a first message that can never fit, alone', () => {
    const queue = fill(3);
    const taken = takeBatch(queue, { messagesMax: 100, bytesMax: 250 }, sized({ 1: 500 }));
    expect(taken.batch).toEqual([]);
    expect(commits([taken.oversized])).toEqual([1]);
    expect(queue.length).toBe(2);
  });

  it('sends a first message above bytesMax alone when it is within aloneBytesMax', () => {
    const queue = fill(3);
    const taken = takeBatch(queue, { messagesMax: 100, bytesMax: 250, aloneBytesMax: 1000 }, sized({ 1: 500 }));
    expect(commits(taken.batch)).toEqual([1]);
    expect(taken.oversized).toBeUndefined();
    expect(queue.length).toBe(2);
  });
});
