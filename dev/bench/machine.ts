// What the numbers were measured on.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { promisify } from 'node:util';
import { prosodyVersion } from '../harness/prosody.ts';
import { openFileLimit } from './proc.ts';

const run = promisify(execFile);

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memory: string;
  kernel: string;
  node: string;
  prosody: string | undefined;
  openFileLimit: number;
  /** `free -h` as printed */
  free: string;
}

export async function describeMachine(): Promise<MachineInfo> {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  let free = '';
  try {
    free = (await run('free', ['-h'])).stdout.trim();
  } catch {
    // not there
  }
  let prosody: string | undefined;
  if (existsSync('/usr/bin/prosodyctl')) {
    try {
      prosody = await prosodyVersion();
    } catch {
      prosody = undefined;
    }
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    prosody,
    openFileLimit: openFileLimit(),
    free,
  };
}
