/**
 * Membership changes as the nemesis makes them: through the SDK (RaftKvClient's members,
 * addMember, promoteMember, removeMember), each driven until the member list shows it done.
 *
 * A change may be refused for a moment (another change pending, a new leader that has not
 * committed in its term yet, a learner not caught up) or end without an answer (a timeout while
 * the leader changes): the step retries until its deadline. It is idempotent because each round
 * reads the member list first and stops as soon as the list shows the change done, so a change
 * that took effect without an answer is not made twice. Any other refusal ("would remove the
 * last voter", "address in use", ...) ends the step at once: the harness asked for something wrong.
 */
import type { MemberInfo, MemberList } from '../src/client/index.js';
import { DeadlineError, nowMs, sleep, throwIfAborted } from './wait.js';

/** One member as the SDK lists it. */
export type MemberView = Pick<MemberInfo, 'id' | 'peerAddress' | 'clientAddress' | 'role' | 'autoPromote' | 'leader' | 'lag'>;

/** The SDK's MemberList (the fields the harness reads): the configuration the leader has applied. */
export type MemberListView = Omit<MemberList, 'members'> & { readonly members: readonly MemberView[] };

export interface MembershipCallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** The SDK calls the harness makes; RaftKvClient has them. */
export interface MembershipApi {
  members(options?: MembershipCallOptions): Promise<MemberListView>;
  addMember(
    member: { id: string; peerAddress: string; clientAddress?: string; learner?: boolean; autoPromote?: boolean },
    options?: MembershipCallOptions,
  ): Promise<MemberListView>;
  promoteMember(id: string, options?: MembershipCallOptions): Promise<MemberListView>;
  removeMember(id: string, options?: MembershipCallOptions): Promise<MemberListView>;
}

/** Refusals that pass by themselves (the SDK's MembershipChangeError reasons). */
const transientReasons = new Set(['change-pending', 'leader-not-ready', 'learner-not-caught-up']);
/** SDK errors after which the change may or may not have happened: read the list and go on. */
const indeterminateErrors = new Set(['TimeoutError', 'UnavailableError', 'ServerError', 'OverloadedError']);

/** The `reason` of the SDK's MembershipChangeError, or null for any other error. */
export function membershipErrorReason(error: unknown): string | null {
  if (!(error instanceof Error) || error.name !== 'MembershipChangeError') return null;
  const reason = (error as { reason?: unknown }).reason;
  return typeof reason === 'string' ? reason : null;
}

/** Whether a step should read the list again and retry after `error`. */
export function isRetryableChangeError(error: unknown): boolean {
  const reason = membershipErrorReason(error);
  if (reason !== null) return transientReasons.has(reason);
  return error instanceof Error && indeterminateErrors.has(error.name);
}

/** A change the cluster refused for a reason retrying cannot fix. */
export class MembershipRefusedError extends Error {
  override readonly name = 'MembershipRefusedError';
  readonly code = 'ERR_CHAOS_MEMBERSHIP_REFUSED';
}

/** "n1 voter leader, n3 voter, n4 learner (auto-promote, lag 12); joint", for logs and checks. */
export function describeMembers(list: MemberListView): string {
  const members = list.members.map((member) => {
    const notes = [member.autoPromote && member.role === 'learner' ? 'auto-promote' : '', member.lag === null || member.role === 'voter' ? '' : `lag ${member.lag}`].filter((note) => note !== '');
    return `${member.id} ${member.role}${member.leader ? ' leader' : ''}${notes.length === 0 ? '' : ` (${notes.join(', ')})`}`;
  });
  return `${members.join(', ')}${list.joint ? '; joint' : ''}`;
}

/** Whether `list` is exactly `ids`, all voters, out of any joint configuration. */
export function isVoterSet(list: MemberListView, ids: readonly string[]): boolean {
  if (list.joint || list.members.length !== ids.length) return false;
  return ids.every((id) => list.members.some((member) => member.id === id && member.role === 'voter'));
}

export interface MembershipStepOptions {
  readonly timeoutMs: number;
  /** Between rounds. */
  readonly intervalMs?: number;
  /** Deadline of one SDK call. */
  readonly callTimeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * The step loop: read the list; stop if `done` says so (returning the list); otherwise, when
 * no joint configuration is in the way, `attempt` the change. Transient refusals and
 * indeterminate outcomes go round again; other refusals throw MembershipRefusedError; the
 * deadline throws DeadlineError naming `what` and the last list and error seen.
 */
export async function driveChange(
  api: MembershipApi,
  what: string,
  done: (list: MemberListView) => boolean,
  attempt: ((call: MembershipCallOptions) => Promise<unknown>) | null,
  options: MembershipStepOptions,
): Promise<MemberListView> {
  const deadlineMs = nowMs() + options.timeoutMs;
  const call = { timeoutMs: options.callTimeoutMs ?? 3000, ...(options.signal === undefined ? {} : { signal: options.signal }) };
  let lastList: MemberListView | null = null;
  let lastError: unknown = null;
  for (;;) {
    throwIfAborted(options.signal);
    try {
      const list = await api.members(call);
      lastList = list;
      if (done(list)) return list;
      if (attempt !== null && !list.joint) await attempt(call);
    } catch (error) {
      if (!isRetryableChangeError(error)) {
        throw new MembershipRefusedError(`${what}: ${(error as Error).message}`, { cause: error });
      }
      lastError = error;
    }
    const remainingMs = deadlineMs - nowMs();
    if (remainingMs <= 0) {
      const seen = lastList === null ? 'no member list read' : `members: ${describeMembers(lastList)}`;
      const last = lastError === null ? '' : `; last error: ${(lastError as Error).message}`;
      throw new DeadlineError(`timed out after ${options.timeoutMs} ms waiting for ${what} (${seen}${last})`, { cause: lastError ?? undefined });
    }
    await sleep(Math.min(options.intervalMs ?? 200, remainingMs), options.signal);
  }
}

/** Removes `id` until the list no longer has it and no joint configuration is left. */
export function removeMember(api: MembershipApi, id: string, options: MembershipStepOptions): Promise<MemberListView> {
  return driveChange(
    api,
    `${id} to leave the configuration`,
    (list) => !list.joint && !list.members.some((member) => member.id === id),
    async (call) => {
      try {
        await api.removeMember(id, call);
      } catch (error) {
        // An earlier attempt that went unanswered may have removed it: the next round reads the list.
        if (membershipErrorReason(error) !== 'unknown-member') throw error;
      }
    },
    options,
  );
}

/** Adds `member` as a learner that stays one (no auto-promotion) until the list has it. */
export function addLearner(api: MembershipApi, member: { id: string; peerAddress: string; clientAddress: string }, options: MembershipStepOptions): Promise<MemberListView> {
  return driveChange(
    api,
    `${member.id} to be added as a learner`,
    (list) => !list.joint && list.members.some((entry) => entry.id === member.id),
    async (call) => {
      try {
        await api.addMember({ ...member, learner: true, autoPromote: false }, call);
      } catch (error) {
        if (membershipErrorReason(error) !== 'member-exists') throw error;
      }
    },
    options,
  );
}

/** Promotes learner `id` (retrying while it is not caught up) until the list shows it a voter. */
export function promoteMember(api: MembershipApi, id: string, options: MembershipStepOptions): Promise<MemberListView> {
  return driveChange(
    api,
    `${id} to be promoted to voter`,
    (list) => !list.joint && list.members.some((member) => member.id === id && member.role === 'voter'),
    (call) => api.promoteMember(id, call),
    options,
  );
}

/** Waits, changing nothing, until `done` holds for the list (e.g. a joining node promoted by the leader). */
export function waitForMembers(api: MembershipApi, what: string, done: (list: MemberListView) => boolean, options: MembershipStepOptions): Promise<MemberListView> {
  return driveChange(api, what, done, null, options);
}
