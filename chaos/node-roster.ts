/**
 * Which node slots of a backend are cluster members now. A backend lays out every slot it may
 * ever run when it is created: the initial nodes n1..nN and `spare` more (n(N+1)...) for nodes
 * the membership fault adds, so that addresses, proxies and firewall rules exist for them from
 * the start and every node already knows how to reach them. Ids are never reused: a removed
 * node's slot is retired, and its log stays where it was.
 */
export class NodeRoster {
  /** Every slot, in order: the initial nodes, then the spares. */
  readonly allIds: readonly string[];
  readonly initialIds: readonly string[];
  // Invariant: members, spares and retired partition allIds; members keep slot order.
  private members: string[];
  private readonly spares: string[];
  private readonly retired: string[] = [];

  constructor(initial: number, spare: number) {
    if (!Number.isInteger(initial) || initial < 1) throw new RangeError(`initial node count must be an integer >= 1, got ${initial}`);
    if (!Number.isInteger(spare) || spare < 0) throw new RangeError(`spare node count must be an integer >= 0, got ${spare}`);
    this.allIds = Array.from({ length: initial + spare }, (_, i) => `n${i + 1}`);
    this.initialIds = this.allIds.slice(0, initial);
    this.members = [...this.initialIds];
    this.spares = this.allIds.slice(initial);
  }

  /** The current members, in slot order. */
  current(): readonly string[] {
    return this.members;
  }

  isMember(id: string): boolean {
    return this.members.includes(id);
  }

  spareCount(): number {
    return this.spares.length;
  }

  /** The id `takeSpare` will return next, or null when none is left. */
  nextSpare(): string | null {
    return this.spares[0] ?? null;
  }

  /** Slots that have ever been members: current and removed ones (their logs belong to the run). */
  everMembers(): readonly string[] {
    return this.allIds.filter((id) => this.members.includes(id) || this.retired.includes(id));
  }

  /** Makes the next spare slot a member and returns its id. Throws when none is left. */
  takeSpare(): string {
    const id = this.spares.shift();
    if (id === undefined) throw new Error(`no spare node slot left (all ${this.allIds.length} slots used)`);
    this.members = this.allIds.filter((slot) => slot === id || this.members.includes(slot));
    return id;
  }

  /** Retires a member's slot for good. Throws if it is not a member. */
  retire(id: string): void {
    if (!this.members.includes(id)) throw new Error(`${id} is not a member (members: ${this.members.join(', ')})`);
    this.members = this.members.filter((member) => member !== id);
    this.retired.push(id);
  }
}
