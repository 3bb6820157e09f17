import { describe, expect, it } from 'vitest';
import { cutRuleSpecs, LinkFirewall, restoreScript, setupCommands, teardownCommands, type FirewallLayout, type FirewallRunner, type IptablesArgs } from '../../chaos/link-firewall.js';

const layout: FirewallLayout = {
  chain: 'RAFTKV-0badcafe',
  subnet: '10.213.7.0/24',
  addresses: new Map([
    ['n1', '10.213.7.11'],
    ['n2', '10.213.7.12'],
    ['n3', '10.213.7.13'],
  ]),
  peerPort: 7001,
};

/** Records what the firewall would run; fails the commands whose text matches `failing`. */
function recordingRunner(failing: RegExp | null = null): FirewallRunner & { calls: string[] } {
  const calls: string[] = [];
  const check = (text: string): Promise<void> => (failing !== null && failing.test(text) ? Promise.reject(new Error(`failed: ${text}`)) : Promise.resolve());
  return {
    calls,
    iptables: (args: IptablesArgs) => {
      const text = `iptables ${args.join(' ')}`;
      calls.push(text);
      return check(text);
    },
    restore: (input: string) => {
      const text = `restore ${input.trim().split('\n').join(' | ')}`;
      calls.push(text);
      return check(text);
    },
  };
}

describe('link firewall rules', () => {
  it('cuts X -> Y as X to Y\'s peer port plus the replies from that port, and nothing of Y -> X', () => {
    expect(cutRuleSpecs(layout, { from: 'n1', to: 'n2' })).toEqual([
      ['-s', '10.213.7.11', '-d', '10.213.7.12', '-p', 'tcp', '--dport', '7001', '-m', 'comment', '--comment', 'raftkv cut n1->n2', '-j', 'DROP'],
      ['-s', '10.213.7.12', '-d', '10.213.7.11', '-p', 'tcp', '--sport', '7001', '-m', 'comment', '--comment', 'raftkv cut n1->n2', '-j', 'DROP'],
    ]);
    // The opposite link's connection runs from n2 to n1's peer port: no rule above matches it
    // (n2 -> n1 packets are dropped only when they come from port 7001, i.e. on n1's connection).
    const reverse = cutRuleSpecs(layout, { from: 'n2', to: 'n1' });
    expect(reverse[0]).toContain('--dport');
    expect(reverse[0]?.slice(0, 4)).toEqual(['-s', '10.213.7.12', '-d', '10.213.7.11']);
  });

  it('writes one iptables-restore transaction per change, quoting the comment', () => {
    expect(restoreScript(layout, '-A', [{ from: 'n3', to: 'n1' }]).split('\n')).toEqual([
      '*filter',
      '-A RAFTKV-0badcafe -s 10.213.7.13 -d 10.213.7.11 -p tcp --dport 7001 -m comment --comment "raftkv cut n3->n1" -j DROP',
      '-A RAFTKV-0badcafe -s 10.213.7.11 -d 10.213.7.13 -p tcp --sport 7001 -m comment --comment "raftkv cut n3->n1" -j DROP',
      'COMMIT',
      '',
    ]);
  });

  it('jumps from DOCKER-USER only for packets inside the run\'s subnet, and tears that down', () => {
    expect(setupCommands(layout)).toEqual([
      ['-w', '-N', 'RAFTKV-0badcafe'],
      ['-w', '-I', 'DOCKER-USER', '1', '-s', '10.213.7.0/24', '-d', '10.213.7.0/24', '-j', 'RAFTKV-0badcafe'],
    ]);
    expect(teardownCommands(layout)).toEqual([
      ['-w', '-D', 'DOCKER-USER', '-s', '10.213.7.0/24', '-d', '10.213.7.0/24', '-j', 'RAFTKV-0badcafe'],
      ['-w', '-F', 'RAFTKV-0badcafe'],
      ['-w', '-X', 'RAFTKV-0badcafe'],
    ]);
  });

  it('refuses an unknown node and a chain name iptables would refuse', () => {
    expect(() => cutRuleSpecs(layout, { from: 'n1', to: 'n9' })).toThrow(/n9/);
    expect(() => new LinkFirewall({ ...layout, chain: 'X'.repeat(29) }, recordingRunner())).toThrow(/28/);
  });
});

describe('LinkFirewall', () => {
  it('tracks cut links, skips repeated cuts and heals, and flushes on healAll', async () => {
    const runner = recordingRunner();
    const firewall = new LinkFirewall(layout, runner);
    await expect(firewall.cutLink({ from: 'n1', to: 'n2' })).rejects.toThrow(/not installed/);
    await firewall.install();
    await Promise.all([firewall.cutLink({ from: 'n1', to: 'n2' }), firewall.cutLink({ from: 'n1', to: 'n2' }), firewall.cutLink({ from: 'n2', to: 'n3' })]);
    expect(firewall.cutLinks()).toEqual([
      { from: 'n1', to: 'n2' },
      { from: 'n2', to: 'n3' },
    ]);
    await firewall.healLink({ from: 'n1', to: 'n2' });
    await firewall.healLink({ from: 'n1', to: 'n2' });
    expect(firewall.cutLinks()).toEqual([{ from: 'n2', to: 'n3' }]);
    await firewall.healAll();
    expect(firewall.cutLinks()).toEqual([]);
    expect(runner.calls.map((call) => call.split(' ').slice(0, 4).join(' '))).toEqual([
      'iptables -w -N RAFTKV-0badcafe',
      'iptables -w -I DOCKER-USER',
      'restore *filter | -A',
      'restore *filter | -A',
      'restore *filter | -D',
      'iptables -w -F RAFTKV-0badcafe',
    ]);
  });

  it('keeps its record true when iptables fails', async () => {
    const runner = recordingRunner(/n1->n3/);
    const firewall = new LinkFirewall(layout, runner);
    await firewall.install();
    await expect(firewall.cutLink({ from: 'n1', to: 'n3' })).rejects.toThrow(/failed/);
    expect(firewall.cutLinks()).toEqual([]);
    await firewall.cutLink({ from: 'n3', to: 'n1' }); // the queue goes on after a failure
    expect(firewall.cutLinks()).toEqual([{ from: 'n3', to: 'n1' }]);
  });

  it('uninstalls idempotently: every copy of the jump, then the chain, whatever is already gone', async () => {
    const runner = recordingRunner(/-D DOCKER-USER/);
    const firewall = new LinkFirewall(layout, runner);
    await firewall.uninstall();
    await firewall.uninstall();
    expect(runner.calls.filter((call) => call.includes('-X')).length).toBe(2);
    const twice = recordingRunner();
    let jumps = 2;
    const removing: FirewallRunner = {
      iptables: (args) => {
        twice.calls.push(args.join(' '));
        if (args.includes('DOCKER-USER')) return jumps-- > 0 ? Promise.resolve() : Promise.reject(new Error('no such rule'));
        return Promise.resolve();
      },
      restore: twice.restore,
    };
    await new LinkFirewall(layout, removing).uninstall();
    expect(twice.calls.filter((call) => call.includes('DOCKER-USER')).length).toBe(3);
  });
});
