import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { CancelledError, Election, LeaseSession, Lock, type ElectionLeader, type RaftKvClient } from '../src/client/index.js';
import { CommandFailure, withClient, withClientOptions, type ClientFlags } from './client-commands.js';
import type { Printer } from './output.js';
import { parseIntegerOption } from './parse.js';

interface SessionFlags extends ClientFlags {
  ttl: string;
}

const ttlHelp = 'the session lease TTL in seconds: how long the lock (or leadership) outlives this process if it dies';

/** `raftkv lock NAME [-- COMMAND ARGS]` and `raftkv elect NAME [VALUE] | --listen` (as etcdctl lock and elect). */
export function registerConcurrencyCommands(program: Command): void {
  withClientOptions(
    program
      .command('lock')
      .description('take a lock: run COMMAND while holding it (exit with its code), or without one, print the key and hold it until Ctrl-C')
      .argument('<name>', 'the lock; its keys are NAME/<lease id>')
      .argument('[command...]', 'run it while holding the lock (after --), with RAFTKV_LOCK_KEY and RAFTKV_LOCK_REVISION (the fencing revision) set')
      .option('--ttl <seconds>', ttlHelp, '60'),
  ).action(async (name: string, command: string[], flags: SessionFlags) => {
    const ttlSeconds = parseIntegerOption(flags.ttl, '--ttl', 1, 9_000_000_000);
    if (name === '') throw new CommandFailure('lock: NAME must not be empty', 2);
    await withSession(flags, ttlSeconds, async (session, out, stop) => {
      const handle = await new Lock(session, name).lock({ signal: stop }).catch((error: unknown) => {
        throw error instanceof CancelledError ? new CommandFailure(`lock ${name}: cancelled before it was held`, 1) : error;
      });
      const key = handle.key.toString('utf8');
      try {
        if (command.length === 0) {
          out.result({ key, fencingRevision: handle.fencingRevision }, key);
          await untilAborted([stop, handle.signal]);
        } else {
          process.exitCode = await runHolding(command, { RAFTKV_LOCK_KEY: key, RAFTKV_LOCK_REVISION: String(handle.fencingRevision) }, AbortSignal.any([handle.signal, stop]));
        }
        if (handle.lost) throw new CommandFailure(`lock ${name}: lost while held: ${(handle.signal.reason as Error).message}`, 1);
      } finally {
        await handle.unlock().catch(() => undefined);
      }
    });
  });

  withClientOptions(
    program
      .command('elect')
      .description('campaign with VALUE and print the leader once this process leads, holding it until Ctrl-C; or --listen: print each leader as it changes')
      .argument('<name>', 'the election; its keys are NAME/<lease id>')
      .argument('[value]', 'this candidate\'s value (required unless --listen)')
      .option('--listen', 'observe: print the leader and each change, until Ctrl-C')
      .option('--ttl <seconds>', ttlHelp, '60'),
  ).action(async (name: string, value: string | undefined, flags: SessionFlags & { listen?: boolean }) => {
    const ttlSeconds = parseIntegerOption(flags.ttl, '--ttl', 1, 9_000_000_000);
    if (name === '') throw new CommandFailure('elect: NAME must not be empty', 2);
    if (flags.listen === true && value !== undefined) throw new CommandFailure('elect: give VALUE or --listen, not both', 2);
    if (flags.listen !== true && value === undefined) throw new CommandFailure('elect: VALUE is required (or --listen to observe)', 2);
    await withSession(flags, ttlSeconds, async (session, out, stop) => {
      const election = new Election(session, name);
      const print = (leader: ElectionLeader): void => {
        const key = leader.key.toString('utf8');
        out.result({ key, value: leader.value.toString('utf8'), createRevision: leader.createRevision, modRevision: leader.modRevision }, `${key}\n${leader.value.toString('utf8')}`);
      };
      if (flags.listen === true) {
        for await (const leader of election.observe({ signal: stop })) print(leader);
        return;
      }
      const leader = await election.campaign(value as string, { signal: stop }).catch((error: unknown) => {
        throw error instanceof CancelledError ? new CommandFailure(`elect ${name}: cancelled before leading`, 1) : error;
      });
      print(leader);
      await untilAborted([stop, election.signal]);
      const lost = !stop.aborted;
      await election.resign().catch(() => undefined);
      if (lost) throw new CommandFailure(`elect ${name}: lost the lead: ${(election.signal.reason as Error).message}`, 1);
    });
  });
}

/** A client and a lease session for the command; `stop` aborts on Ctrl-C or SIGTERM. The session is closed (its lease revoked) at the end. */
async function withSession(flags: ClientFlags, ttlSeconds: number, run: (session: LeaseSession, out: Printer, stop: AbortSignal) => Promise<void>): Promise<void> {
  await withClient(flags, async (client: RaftKvClient, out) => {
    const controller = new AbortController();
    const onSignal = (): void => controller.abort();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    const session = await LeaseSession.open(client, { ttlSeconds });
    try {
      await run(session, out, controller.signal);
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await session.close({ timeoutMs: 5000 }).catch(() => undefined);
    }
  });
}

/** Resolves when any of the signals aborts; holds the process open meanwhile. */
function untilAborted(signals: readonly AbortSignal[]): Promise<void> {
  return new Promise((resolve) => {
    const hold = setInterval(() => undefined, 60_000);
    const done = (): void => {
      clearInterval(hold);
      for (const signal of signals) signal.removeEventListener('abort', done);
      resolve();
    };
    if (signals.some((signal) => signal.aborted)) return done();
    for (const signal of signals) signal.addEventListener('abort', done, { once: true });
  });
}

/** Runs the command with the lock's variables; SIGTERM to it if the lock is lost (or we are stopped). Resolves with its exit code (128 + signal number when killed). */
function runHolding(command: readonly string[], env: Record<string, string>, lost: AbortSignal): Promise<number> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = command as [string, ...string[]];
    const child = spawn(file, args, { stdio: 'inherit', env: { ...process.env, ...env } });
    const onLost = (): void => {
      child.kill('SIGTERM');
    };
    lost.addEventListener('abort', onLost, { once: true });
    child.once('error', (error) => {
      lost.removeEventListener('abort', onLost);
      reject(new CommandFailure(`lock: could not run ${file}: ${error.message}`, 127));
    });
    child.once('exit', (code, signal) => {
      lost.removeEventListener('abort', onLost);
      resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal)));
    });
  });
}

function signalNumber(signal: NodeJS.Signals): number {
  const numbers: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 0;
}
