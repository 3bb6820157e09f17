import {
  RaftCore,
  type Membership,
  type NodeId,
  type RaftConfig,
  type Ready,
  type RestoredState,
} from '../../src/raft/index.js';
import { SeededRng } from '../../src/shared/seeded-rng.js';
import { SimDisk } from './sim-disk.js';
import { decodeStateMachine, type SimStateMachine } from './sim-state-machine.js';

/** Where in the handling of a Ready a simulated crash strikes. */
export type CrashPoint = 'before-persist' | 'after-persist' | 'after-send' | 'after-apply';

/**
 * One simulated node: a disk that survives crashes and a Raft core that does not. Restart
 * rebuilds the core from the disk, as the real driver rebuilds it from LevelDB.
 */
export class SimNode {
  readonly disk = new SimDisk();
  core: RaftCore | null;
  /** Restarts so far; folded into the core's RNG seed so a restarted node draws new timeouts. */
  private incarnation = 0;

  constructor(
    readonly id: NodeId,
    private readonly makeConfig: (id: NodeId, rng: SeededRng) => RaftConfig,
    private readonly seed: number,
    private readonly initialMembership: Membership,
  ) {
    this.core = this.boot();
  }

  get up(): boolean {
    return this.core !== null;
  }

  crash(): void {
    this.core = null;
  }

  restart(): void {
    if (this.core !== null) return;
    this.incarnation++;
    this.core = this.boot();
  }

  private boot(): RaftCore {
    const disk = this.disk;
    // A snapshot persisted but not yet installed when the node crashed is installed now: the
    // state machine must hold everything up to the log's start.
    if (disk.snapshot !== null && disk.snapshot.meta.index > disk.stateMachine.applied) {
      disk.stateMachine = decodeStateMachine(disk.snapshot.data);
    }
    const restored: RestoredState = {
      hardState: disk.hardState,
      snapshot: disk.snapshot,
      compactedTo: disk.compactedTo,
      entries: disk.entries,
      membership: disk.snapshot?.meta.membership ?? this.initialMembership,
      applied: disk.stateMachine.applied,
    };
    const rng = new SeededRng((this.seed ^ Math.imul(this.incarnation + 1, 0x9e3779b1)) >>> 0);
    return new RaftCore(this.makeConfig(this.id, rng), restored);
  }

  get stateMachine(): SimStateMachine {
    return this.disk.stateMachine;
  }

  /** The Ready being handled, for transcripts. */
  lastReady: Ready | null = null;
}
