// Reads a process's resident memory and CPU time from /proc (Linux), so every server the bench starts is
// measured from outside, the same way whatever language it is written in.
import { readFileSync } from 'node:fs';

const CLOCK_TICKS = 100; // USER_HZ on Linux

export interface ProcSample {
  /** bytes */
  rss: number;
  /** CPU seconds (user + system) since the process started */
  cpu: number;
  at: number;
}

export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); utime is field 14, stime field 15.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export function sample(pid: number): ProcSample {
  return { rss: rssBytes(pid), cpu: cpuSeconds(pid), at: performance.now() };
}

/** CPU use between two samples, as a fraction of one core. */
export function cpuShare(a: ProcSample, b: ProcSample): number {
  return (b.cpu - a.cpu) / ((b.at - a.at) / 1000);
}

/** The pid of the real program when it was started through a wrapper (`/bin/sh -c … exec`). */
export function openFileLimit(pid: number = process.pid): number {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const m = /Max open files\s+(\d+|unlimited)/.exec(limits);
  return m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 1024);
}

/** The 1-minute load average. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}
