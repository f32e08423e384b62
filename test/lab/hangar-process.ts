import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { StoreLocation } from '../../src/store/store.js';

/** The built CLI as users run it: the bundle npm run build writes to dist/hangar.mjs. */
export const HANGAR_BIN = fileURLToPath(new URL('../../hangar.mjs', import.meta.url));

export function storeEnv(location: StoreLocation): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_LOG_LEVEL: 'warn' };
  delete env.HANGAR_DATABASE_URL;
  if (location.databaseUrl) env.HANGAR_DATABASE_URL = location.databaseUrl;
  else env.HANGAR_DATA = location.dataDir;
  return env;
}

/** Runs `hangar ARGS...` to completion. */
export function hangar(location: StoreLocation, ...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [HANGAR_BIN, ...args], { env: storeEnv(location), encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface RunningHangar {
  url: string;
  child: ChildProcess;
  /** Milliseconds from spawn to the first successful GET /api/status/. */
  readyAfterMs: number;
  stderr(): string;
  /** Sends a signal to this process (by pid) and waits for it to exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts `hangar serve` on a free loopback port and waits until it answers. */
export async function startHangar(location: StoreLocation, extraArgs: string[] = []): Promise<RunningHangar> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [HANGAR_BIN, 'serve', '--listen', `127.0.0.1:${port}`, ...extraArgs], {
    env: storeEnv(location),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const deadline = started + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hangar serve exited with ${child.exitCode}: ${stderr}`);
    try {
      const res = await fetch(`${url}/api/status/`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (performance.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`hangar serve did not answer within 15 s: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const readyAfterMs = performance.now() - started;
  return {
    url,
    child,
    readyAfterMs,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
