import { setMaxListeners } from 'node:events';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CreateObject } from '../test/lab/seed.js';
import { freePort } from '../test/lab/hangar-process.js';
import { stopProcess } from '../test/lab/netns.js';

/**
 * What the boot service's HTTP benchmarks (bench/images, bench/ipxe) share: a scratch directory whose processes
 * and files go away on return, failure, SIGINT or SIGTERM; an image version in the catalogue; nginx as the peer;
 * and wrk as the client, reporting through a Lua `done` hook so nothing depends on wrk's human-readable table.
 */

export const IMAGE = { name: 'bench-live', version: '1', kernel: 'vmlinuz', initrd: 'initrd.img', rootfs: 'root.squashfs' } as const;

/** DATA/images/IMAGE/VERSION, where `hangar serve --data DATA` finds the version's files. */
export function imageVersionDir(dataDir: string): string {
  return join(dataDir, 'images', IMAGE.name, IMAGE.version);
}

/** The URL path of one of IMAGE's files, the same on Hangar and on nginx. */
export function imageFilePath(file: string): string {
  return `/boot/images/${IMAGE.name}/${IMAGE.version}/${file}`;
}

/** Creates IMAGE and its version in the catalogue; returns the version's id. */
export async function seedImageVersion(create: CreateObject): Promise<number> {
  const image = await create('boot.image', { name: IMAGE.name });
  return create('boot.imageversion', { image, version: IMAGE.version, kernel: IMAGE.kernel, initrd: IMAGE.initrd, rootfs: IMAGE.rootfs });
}

export interface Scratch {
  readonly dir: string;
  /** Aborted when the benchmark is interrupted (SIGINT, SIGTERM), so load loops stop at once. */
  readonly interrupted: AbortSignal;
  /** Stops `child` (by its pid) when the scratch directory goes away, unless it has exited by then. */
  own(child: ChildProcess): void;
}

/**
 * Runs `work` in a fresh directory under the system temp dir. Every process it owns is stopped and the directory
 * removed afterwards, also when `work` throws or the benchmark is interrupted.
 */
export async function withScratch<T>(name: string, work: (scratch: Scratch) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), `hangar-bench-${name}-`));
  // nginx's workers run as nobody when the benchmark runs as root: they must reach the files below.
  chmodSync(dir, 0o755);
  const children = new Set<ChildProcess>();
  const interruption = new AbortController();
  // Every download of a load loop listens for it.
  setMaxListeners(0, interruption.signal);
  let cleaned: Promise<void> | null = null;
  const cleanUp = () =>
    (cleaned ??= (async () => {
      await Promise.all([...children].map((child) => stopProcess(child)));
      rmSync(dir, { recursive: true, force: true });
    })());
  const interrupted = (signal: NodeJS.Signals) => {
    process.stderr.write(`\n${signal}: stopping the servers and removing ${dir}\n`);
    interruption.abort(new Error(signal));
    void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    return await work({
      dir,
      interrupted: interruption.signal,
      own(child) {
        children.add(child);
        child.once('exit', () => children.delete(child));
      },
    });
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
    await cleanUp();
  }
}

export interface RunningNginx {
  url: string;
  /** Its error log so far, for a report when it misbehaves. */
  errors(): string;
}

/**
 * Debian's nginx in the foreground, configured as a static file server at its fastest here (sendfile, one worker
 * per CPU, no access log, keep-alive without a request cap) and serving `root` plus `locations` on a free loopback
 * port. Not tcp_nopush, which Debian's stock config turns on: over loopback it cut 200 downloads' throughput by a
 * third. All its paths are inside the scratch directory; it is stopped with the scratch directory.
 */
export async function startNginx(scratch: Scratch, root: string, locations = ''): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(scratch.dir, 'nginx-'));
  mkdirSync(join(prefix, 'temp'));
  const port = await freePort();
  const errorLog = join(prefix, 'error.log');
  const temp = (kind: string) => `${kind}_temp_path ${join(prefix, 'temp', kind)};`;
  const config = `daemon off;
master_process on;
worker_processes auto;
pid ${join(prefix, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  keepalive_timeout 75s;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location = /.ready { return 204; }
    ${locations}
  }
}
`;
  const configPath = join(prefix, 'nginx.conf');
  writeFileSync(configPath, config);
  const child = spawn('/usr/sbin/nginx', ['-p', prefix, '-e', errorLog, '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  scratch.own(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const errors = () => {
    let log = '';
    try {
      log = readFileSync(errorLog, 'utf8');
    } catch {
      // not written yet
    }
    return stderr + log;
  };
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}: ${errors()}`);
    try {
      const ready = await fetch(`${url}/.ready`);
      if (ready.status === 204) return { url, errors };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nginx did not answer within 5 s: ${errors()}`);
}

export interface WrkLoad {
  threads: number;
  connections: number;
  seconds: number;
  /** wrk counts a request outstanding longer than this as a timeout (and keeps waiting for it). */
  timeoutSeconds: number;
  /** Lua run before the reporting hook, e.g. a `request` function choosing each request's path. */
  lua?: string;
}

export interface WrkResult {
  /** The command line, to reproduce the run by hand. */
  command: string;
  seconds: number;
  /** Responses completed. */
  requests: number;
  /** Bytes read, headers included, also those of responses cut short by the end of the run. */
  bytes: number;
  errors: { connect: number; read: number; write: number; timeout: number };
  /** Responses with a status above 399. */
  non2xx: number;
  latencyMs: { p50: number; p99: number; max: number };
}

/** Prints the summary as one JSON line wrk's own report cannot be mistaken for. */
const REPORT_LUA = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nWRK-JSON {"duration_us":%.0f,"requests":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f}\\n',
    summary.duration, summary.requests, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
`;

/** Runs Debian's wrk against `url` for `load.seconds` and returns its summary. */
export async function runWrk(scratch: Scratch, url: string, load: WrkLoad): Promise<WrkResult> {
  const script = join(scratch.dir, `wrk-${process.hrtime.bigint()}.lua`);
  writeFileSync(script, `${load.lua ?? ''}\n${REPORT_LUA}`);
  const args = [`-t${load.threads}`, `-c${load.connections}`, `-d${load.seconds}s`, `--timeout`, `${load.timeoutSeconds}s`, '--latency', '-s', script, url];
  const command = `wrk ${args.join(' ')}`;
  const child = spawn('/usr/bin/wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  scratch.own(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // wrk stops itself after the duration; the guard only catches a wrk that hangs.
  const guard = setTimeout(() => child.kill('SIGKILL'), (load.seconds + load.timeoutSeconds + 30) * 1000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode)));
  clearTimeout(guard);
  rmSync(script, { force: true });
  const line = output.split('\n').find((text) => text.startsWith('WRK-JSON '));
  if (code !== 0 || !line) throw new Error(`${command} exited with ${code}:\n${output}`);
  const report = JSON.parse(line.slice('WRK-JSON '.length)) as Record<string, number>;
  const figure = (key: string) => report[key] ?? Number.NaN;
  return {
    command,
    seconds: figure('duration_us') / 1e6,
    requests: figure('requests'),
    bytes: figure('bytes'),
    errors: { connect: figure('connect'), read: figure('read'), write: figure('write'), timeout: figure('timeout') },
    non2xx: figure('status'),
    latencyMs: { p50: figure('p50_us') / 1000, p99: figure('p99_us') / 1000, max: figure('max_us') / 1000 },
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}
