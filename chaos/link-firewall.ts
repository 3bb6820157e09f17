/**
 * Directed link cuts between containers as host iptables rules (the docker backend's partitions).
 *
 * Containers on one user-defined bridge talk through the bridge; with bridge netfilter on
 * (`/proc/sys/net/bridge/bridge-nf-call-iptables` = 1) those frames traverse the host's FORWARD
 * chain, whose first rule jumps to DOCKER-USER, the chain Docker leaves to its users. Each run
 * owns one chain of its own, jumped to from DOCKER-USER for packets between two addresses of its
 * subnet, and puts its DROP rules there. Traffic between the host and a container (the harness's
 * clients, the observer) goes through INPUT/OUTPUT, never FORWARD, so it is never cut.
 *
 * What a directed cut means. Raft traffic from X to Y travels on the TCP connection X opens to
 * Y's peer port (one client-streaming call per direction); Y's messages to X travel on the
 * connection Y opens to X's peer port. `cut(X, Y)` drops
 *   - packets from X to Y's peer port (X's messages, X's connection attempts), and
 *   - packets from Y's peer port back to X (the replies and TCP ACKs of that same connection),
 * so the connection X -> Y carries nothing in either direction, while the connection Y -> X is
 * untouched. This is the same link the process backend's proxy (X, Y) cuts. Dropping every IP
 * packet from X to Y instead would also drop X's TCP ACKs on Y's connection and so silence
 * Y -> X as well: a one-way cut would be a two-way cut in disguise.
 *
 * Packets are dropped, not rejected: the far side sees a silent network, as in a real
 * partition; open connections stay open and recover (TCP retransmits) after the heal, or are
 * replaced when the nodes' keepalives give up on them.
 *
 * The rule text is built by pure functions (tested without iptables); `LinkFirewall` runs it
 * through an injected command runner.
 */
import { describeLink, type Link } from './backend.js';

/** What a firewall needs to know about the cluster's addresses. */
export interface FirewallLayout {
  /** The run's own chain, at most 28 characters: iptables' limit. */
  readonly chain: string;
  /** The run's subnet, "10.213.7.0/24": the jump from DOCKER-USER covers only it. */
  readonly subnet: string;
  /** Each node's container address. */
  readonly addresses: ReadonlyMap<string, string>;
  /** The port every node listens on for Raft traffic. */
  readonly peerPort: number;
}

/** Docker's chain for its users' rules, jumped to first from FORWARD. */
export const dockerUserChain = 'DOCKER-USER';

/** A command line for `iptables`, as an argument list (no shell). */
export type IptablesArgs = readonly string[];

/**
 * The two rule specifications (without -A/-D) of a cut of `link`: X's packets to Y's peer
 * port, and the replies from Y's peer port to X.
 */
export function cutRuleSpecs(layout: FirewallLayout, link: Link): string[][] {
  const from = addressOf(layout, link.from);
  const to = addressOf(layout, link.to);
  const port = String(layout.peerPort);
  const comment = ['-m', 'comment', '--comment', `raftkv cut ${describeLink(link)}`];
  return [
    ['-s', from, '-d', to, '-p', 'tcp', '--dport', port, ...comment, '-j', 'DROP'],
    ['-s', to, '-d', from, '-p', 'tcp', '--sport', port, ...comment, '-j', 'DROP'],
  ];
}

/**
 * `iptables-restore --noflush` input that adds (`-A`) or deletes (`-D`) the rules of `links`
 * in one transaction: either all of them change or none does.
 */
export function restoreScript(layout: FirewallLayout, op: '-A' | '-D', links: readonly Link[]): string {
  const lines = ['*filter'];
  for (const link of links) {
    for (const spec of cutRuleSpecs(layout, link)) lines.push([op, layout.chain, ...spec.map(quoteRestoreWord)].join(' '));
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** The jump from DOCKER-USER into the run's chain (the rule spec, without -I/-D). */
export function jumpRuleSpec(layout: FirewallLayout): string[] {
  return ['-s', layout.subnet, '-d', layout.subnet, '-j', layout.chain];
}

/** Commands that create the run's chain and jump to it, in order. */
export function setupCommands(layout: FirewallLayout): IptablesArgs[] {
  return [
    ['-w', '-N', layout.chain],
    ['-w', '-I', dockerUserChain, '1', ...jumpRuleSpec(layout)],
  ];
}

/**
 * Commands that remove the run's chain and its jump. Each may fail harmlessly when that part is
 * already gone (teardown is idempotent); the jump is deleted until no copy is left.
 */
export function teardownCommands(layout: FirewallLayout): IptablesArgs[] {
  return [
    ['-w', '-D', dockerUserChain, ...jumpRuleSpec(layout)],
    ['-w', '-F', layout.chain],
    ['-w', '-X', layout.chain],
  ];
}

/** Runs `iptables` (args) or `iptables-restore` (input); rejects with the tool's stderr on failure. */
export interface FirewallRunner {
  iptables(args: IptablesArgs): Promise<void>;
  restore(input: string): Promise<void>;
}

/**
 * The cuts of one run. Every change is applied before its promise resolves; changes are
 * serialized, so the rule set always matches `cutLinks()` once the last one settled.
 */
export class LinkFirewall {
  private readonly layout: FirewallLayout;
  private readonly runner: FirewallRunner;
  // Invariant: exactly the links whose rules are in the chain (after each change settles).
  private readonly cut = new Map<string, Link>();
  private queue: Promise<void> = Promise.resolve();
  private installed = false;

  constructor(layout: FirewallLayout, runner: FirewallRunner) {
    if (layout.chain.length > 28) throw new RangeError(`iptables chain names have at most 28 characters: "${layout.chain}"`);
    this.layout = layout;
    this.runner = runner;
  }

  get chain(): string {
    return this.layout.chain;
  }

  /** Creates the chain and the jump to it. */
  install(): Promise<void> {
    return this.serialize(async () => {
      for (const args of setupCommands(this.layout)) await this.runner.iptables(args);
      this.installed = true;
    });
  }

  /** Cuts `link` (no-op if it is cut already). */
  cutLink(link: Link): Promise<void> {
    return this.serialize(async () => {
      this.checkInstalled();
      const name = describeLink(link);
      if (this.cut.has(name)) return;
      await this.runner.restore(restoreScript(this.layout, '-A', [link]));
      this.cut.set(name, link);
    });
  }

  /** Heals `link` (no-op if it is not cut). */
  healLink(link: Link): Promise<void> {
    return this.serialize(async () => {
      const name = describeLink(link);
      if (!this.cut.has(name)) return;
      await this.runner.restore(restoreScript(this.layout, '-D', [link]));
      this.cut.delete(name);
    });
  }

  /** Heals every link at once (flushes the chain). */
  healAll(): Promise<void> {
    return this.serialize(async () => {
      if (!this.installed) return;
      await this.runner.iptables(['-w', '-F', this.layout.chain]);
      this.cut.clear();
    });
  }

  cutLinks(): Link[] {
    return [...this.cut.values()];
  }

  /** Removes the chain and the jump; safe to call more than once, and after a failed install. */
  uninstall(): Promise<void> {
    return this.serialize(async () => {
      await removeAll(this.layout, this.runner);
      this.cut.clear();
      this.installed = false;
    });
  }

  private checkInstalled(): void {
    if (!this.installed) throw new Error(`the firewall chain ${this.layout.chain} is not installed`);
  }

  private serialize(fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(fn);
    this.queue = next.catch(() => {});
    return next;
  }
}

/** Deletes the jump (every copy), then flushes and deletes the chain, ignoring what is already gone. */
async function removeAll(layout: FirewallLayout, runner: FirewallRunner): Promise<void> {
  const [deleteJump, flush, remove] = teardownCommands(layout) as [IptablesArgs, IptablesArgs, IptablesArgs];
  // At most a few copies of the jump can exist (one per install); stop at the first failure.
  for (let i = 0; i < 10; i++) {
    try {
      await runner.iptables(deleteJump);
    } catch {
      break;
    }
  }
  await runner.iptables(flush).catch(() => {});
  await runner.iptables(remove).catch(() => {});
}

function addressOf(layout: FirewallLayout, id: string): string {
  const address = layout.addresses.get(id);
  if (address === undefined) throw new Error(`no address for node ${id}`);
  return address;
}

/** iptables-restore splits on blanks and understands double quotes. */
function quoteRestoreWord(word: string): string {
  return /^[\w./:,+-]+$/.test(word) ? word : `"${word.replace(/["\\]/g, '')}"`;
}
