/** CPU time of processes, so latency figures can say how much of them is CPU work. */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds a process has used so far (from /proc/<pid>/stat). */
export function processCpuMs(pid: number): number {
  const t = processCpuTimes(pid);
  return t.userMs + t.systemMs;
}

/** User and system (kernel) CPU milliseconds of a process so far, all threads (from /proc/<pid>/stat). */
export function processCpuTimes(pid: number): { userMs: number; systemMs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return { userMs: (utime / clockTicks()) * 1000, systemMs: (stime / clockTicks()) * 1000 };
}

/** User + system CPU milliseconds this process has used so far. */
export function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/** Stops a benchmark child: SIGTERM, SIGKILL after 5 s, resolved once it has exited. */
export async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
  child.kill('SIGTERM');
  await exited;
  clearTimeout(kill);
}
