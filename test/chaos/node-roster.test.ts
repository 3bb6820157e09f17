import { describe, expect, it } from 'vitest';
import { NodeRoster } from '../../chaos/node-roster.js';

describe('NodeRoster', () => {
  it('lays out the initial nodes and the spares, and starts with the initial ones as members', () => {
    const roster = new NodeRoster(3, 2);
    expect(roster.allIds).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(roster.initialIds).toEqual(['n1', 'n2', 'n3']);
    expect(roster.current()).toEqual(['n1', 'n2', 'n3']);
    expect(roster.spareCount()).toBe(2);
    expect(roster.everMembers()).toEqual(['n1', 'n2', 'n3']);
  });

  it('hands out spares in order, retires members for good, and never reuses an id', () => {
    const roster = new NodeRoster(3, 2);
    roster.retire('n2');
    expect(roster.takeSpare()).toBe('n4');
    expect(roster.current()).toEqual(['n1', 'n3', 'n4']);
    roster.retire('n1');
    expect(roster.takeSpare()).toBe('n5');
    expect(roster.current()).toEqual(['n3', 'n4', 'n5']);
    expect(roster.everMembers()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(roster.isMember('n2')).toBe(false);
    expect(() => roster.takeSpare()).toThrow(/no spare node slot left/);
    expect(() => roster.retire('n2')).toThrow(/n2 is not a member/);
  });

  it('says which id comes next, and none when the spares are used up', () => {
    const roster = new NodeRoster(1, 1);
    expect(roster.nextSpare()).toBe('n2');
    expect(roster.takeSpare()).toBe('n2');
    expect(roster.nextSpare()).toBeNull();
  });

  it('refuses impossible layouts', () => {
    expect(() => new NodeRoster(0, 1)).toThrow(/initial node count/);
    expect(() => new NodeRoster(3, -1)).toThrow(/spare node count/);
  });
});
