/** The machine a run happened on, recorded next to the figures (they mean nothing without it). */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

/** CPU, memory, runtime and load at one moment. */
export interface MachineInfo {
  cpuModel: string;
  /** Logical CPUs the OS reports. */
  cores: number;
  availableParallelism: number;
  memoryMiB: number;
  node: string;
  platform: string;
  kernel: string;
  openssl: string;
  /** 1, 5 and 15-minute load averages when the run started. */
  loadAverageAtStart: number[];
}

/** Describes this machine. */
export function describeMachine(): MachineInfo {
  const cpus = os.cpus();
  let openssl = 'not found';
  try {
    openssl = execFileSync('openssl', ['version'], { encoding: 'utf8' }).trim();
  } catch {
    // reported as not found
  }
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryMiB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    openssl,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
