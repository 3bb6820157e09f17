/**
 * The sequential specification of one register: what a single, correct copy of the key would
 * have answered. The linearizability checker asks it whether an operation, placed at some point
 * of a sequential order, could have returned what the client saw.
 */
import { assertNever, type Operation, type RegisterValue } from './history.js';

/** The register's content; null = absent. */
export type RegisterState = RegisterValue;

/** Every key starts absent. */
export const initialRegisterState: RegisterState = null;

/**
 * An operation as the model checks it: what was asked together with what was observed.
 * - `read`: a completed get that returned `value`.
 * - `write`: a put, completed or indeterminate; always legal, sets the state. An indeterminate
 *   put that never took effect is the same write placed after everything else.
 * - `swap`: a completed cas; legal only if the state is `expected`, then sets `value`.
 * - `compare-failed`: a cas whose compare failed; legal only if the state is NOT `expected`,
 *   changes nothing. It is a read that saw "something else", so it does constrain the order.
 * - `maybe-swap`: a cas with unknown outcome; always legal, and at the point where it is placed
 *   it swaps exactly when the state is `expected` (a cas is deterministic given the state).
 */
export type RegisterCommand =
  | { readonly kind: 'read'; readonly value: RegisterValue }
  | { readonly kind: 'write'; readonly value: string }
  | { readonly kind: 'swap'; readonly expected: RegisterValue; readonly value: string }
  | { readonly kind: 'compare-failed'; readonly expected: RegisterValue }
  | { readonly kind: 'maybe-swap'; readonly expected: RegisterValue; readonly value: string };

/**
 * The command an operation stands for, or undefined when it constrains nothing and is dropped:
 * an aborted operation (definitely no effect, observed nothing) and an indeterminate get (it
 * changed nothing and nobody saw its answer).
 */
export function registerCommandOf(op: Operation): RegisterCommand | undefined {
  switch (op.kind) {
    case 'get':
      switch (op.outcome) {
        case 'ok':
          return { kind: 'read', value: op.value };
        case 'indeterminate':
        case 'aborted':
          return undefined;
        default:
          return assertNever(op);
      }
    case 'put':
      switch (op.outcome) {
        case 'ok':
        case 'indeterminate':
          return { kind: 'write', value: op.value };
        case 'aborted':
          return undefined;
        default:
          return assertNever(op);
      }
    case 'cas':
      switch (op.outcome) {
        case 'ok':
          return { kind: 'swap', expected: op.expected, value: op.value };
        case 'fail':
          return { kind: 'compare-failed', expected: op.expected };
        case 'indeterminate':
          return { kind: 'maybe-swap', expected: op.expected, value: op.value };
        case 'aborted':
          return undefined;
        default:
          return assertNever(op);
      }
    default:
      return assertNever(op);
  }
}

/**
 * The state after `command` runs on `state`, or undefined if the command's observed answer is
 * impossible in that state. (undefined, not null: null is the absent register.)
 */
export function nextRegisterState(state: RegisterState, command: RegisterCommand): RegisterState | undefined {
  switch (command.kind) {
    case 'read':
      return state === command.value ? state : undefined;
    case 'write':
      return command.value;
    case 'swap':
      return state === command.expected ? command.value : undefined;
    case 'compare-failed':
      return state === command.expected ? undefined : state;
    case 'maybe-swap':
      return state === command.expected ? command.value : state;
    default:
      return assertNever(command);
  }
}
