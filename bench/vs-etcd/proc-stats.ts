import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicksPerSecond: number | null = null;

/** USER_HZ, the unit of utime/stime in /proc/PID/stat (100 on every common Linux). */
function ticksPerSecond(): number {
  if (clockTicksPerSecond === null) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
      clockTicksPerSecond = Number.isInteger(value) && value > 0 ? value : 100;
    } catch {
      clockTicksPerSecond = 100;
    }
  }
  return clockTicksPerSecond;
}

/**
 * utime + stime of a process (all its threads), in ms, from /proc/PID/stat. The command name
 * in parentheses may hold spaces, so fields are counted from the last ')'.
 */
export function processCpuMs(pid: number): number {
  return parseStatCpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) * (1000 / ticksPerSecond());
}

/** One thread's name and its utime + stime in ms, from /proc/PID/task/TID/{comm,stat}. */
export interface ThreadCpu {
  readonly tid: number;
  readonly name: string;
  readonly cpuMs: number;
}

/** Every live thread of a process with its CPU so far (threads that ended are not listed). */
export function threadCpu(pid: number): ThreadCpu[] {
  const threads: ThreadCpu[] = [];
  for (const entry of readdirSync(`/proc/${pid}/task`)) {
    const tid = Number(entry);
    try {
      const name = readFileSync(`/proc/${pid}/task/${entry}/comm`, 'utf8').trim();
      const cpuMs = parseStatCpuTicks(readFileSync(`/proc/${pid}/task/${entry}/stat`, 'utf8')) * (1000 / ticksPerSecond());
      threads.push({ tid, name, cpuMs });
    } catch {
      // The thread ended between the listing and the read: it has nothing more to count.
    }
  }
  return threads;
}

/** utime + stime, in clock ticks, from the text of /proc/PID/stat. */
export function parseStatCpuTicks(stat: string): number {
  const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the name: state is field 3, so utime (field 14) and stime (field 15) are at 11 and 12.
  const utime = Number(afterName[11]);
  const stime = Number(afterName[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error(`unreadable /proc stat: ${stat.slice(0, 80)}`);
  return utime + stime;
}

/** Resident memory of a process in KiB (VmRSS from /proc/PID/status), or null once it is gone. */
export function processRssKiB(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match === null ? null : Number(match[1]);
  } catch {
    return null;
  }
}

/** Whether a process (not a zombie) exists. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
