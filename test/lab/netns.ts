import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** Runs a command to completion (30 s at most) and returns its stdout. */
export function run(...args: string[]): string {
  return execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface VethPair {
  serverNs: string;
  clientNs: string;
  serverIf: string;
  clientIf: string;
  /** Runs a command inside the client namespace. */
  inClient(...args: string[]): string;
  /** Deletes both namespaces (and so the veth pair); never throws. */
  destroy(): void;
}

/**
 * Two fresh network namespaces joined by a veth pair, addressed and up, with loopback up in both.
 * Names carry `tag` (give it the pid) so parallel runs do not collide; interface names stay within 15 characters.
 */
export function createVethPair(tag: string, serverAddress: string, clientAddress: string): VethPair {
  const pair: VethPair = {
    serverNs: `${tag}-s`,
    clientNs: `${tag}-c`,
    serverIf: `${tag}s`.replace(/[^a-z0-9]/gi, '').slice(-15),
    clientIf: `${tag}c`.replace(/[^a-z0-9]/gi, '').slice(-15),
    inClient: (...args) => run('ip', 'netns', 'exec', pair.clientNs, ...args),
    destroy() {
      for (const ns of [pair.serverNs, pair.clientNs]) {
        try {
          run('ip', 'netns', 'del', ns);
        } catch {
          // never created, or already gone
        }
      }
    },
  };
  try {
    run('ip', 'netns', 'add', pair.serverNs);
    run('ip', 'netns', 'add', pair.clientNs);
    run('ip', 'link', 'add', pair.serverIf, 'type', 'veth', 'peer', 'name', pair.clientIf);
    run('ip', 'link', 'set', pair.serverIf, 'netns', pair.serverNs);
    run('ip', 'link', 'set', pair.clientIf, 'netns', pair.clientNs);
    for (const [ns, iface, address] of [
      [pair.serverNs, pair.serverIf, serverAddress],
      [pair.clientNs, pair.clientIf, clientAddress],
    ] as const) {
      run('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', address, 'dev', iface);
      run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', iface, 'up');
      run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
    }
  } catch (error) {
    pair.destroy();
    throw error;
  }
  return pair;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function udp67Bound(ns: string): boolean {
  try {
    return run('ip', 'netns', 'exec', ns, 'ss', '-Hlun', 'sport', '=', ':67').trim() !== '';
  } catch {
    return false;
  }
}

/**
 * Starts a DHCP server in namespace `ns` and waits (timeoutMs at most) until something listens on UDP 67 there.
 * `ip netns exec` execs the command in place, so the returned child's pid is the server's.
 */
export async function startDhcpServerIn(ns: string, argv: string[], env: NodeJS.ProcessEnv, logPath: string, timeoutMs = 30_000): Promise<ChildProcess> {
  const log = openSync(logPath, 'a');
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { env, stdio: ['ignore', log, log] });
  closeSync(log);
  const deadline = Date.now() + timeoutMs;
  while (!udp67Bound(ns)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${argv[0]} exited with ${child.exitCode} (see ${logPath})`);
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`${argv[0]} did not bind UDP 67 within ${timeoutMs} ms (see ${logPath})`);
    }
    await sleep(50);
  }
  // The socket is bound a moment before the first subnet load settles.
  await sleep(500);
  return child;
}

/** Resolves true when the child has exited, false after `ms`; leaves no timer behind to hold the process open. */
function exitWithin(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onExit = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      child.off('exit', onExit);
      resolve(false);
    }, ms);
    child.once('exit', onExit);
  });
}

/** Sends `signal` to the child by pid and waits for it to exit; escalates to SIGKILL after 10 s. */
export async function stopProcess(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (await exitWithin(child, 10_000)) return;
  child.kill('SIGKILL');
  await exitWithin(child, 10_000);
}

export interface ExchangeStats {
  sent: number;
  received: number;
  drops: number;
  /** Addresses perfdhcp saw handed to more than one of its clients. */
  nonUnique: number;
}

export interface PerfdhcpResult {
  discoverOffer: ExchangeStats;
  requestAck: ExchangeStats;
  /** Worst drop ratio of the two exchanges, in percent of packets sent (100 when there is no report). */
  dropPercent: number;
  report: string;
}

function exchangeStats(report: string, exchange: 'DISCOVER-OFFER' | 'REQUEST-ACK'): ExchangeStats {
  const section = report.split(`***Statistics for: ${exchange}***`)[1]?.split('***')[0] ?? '';
  const field = (label: string): number => Number(new RegExp(`^${label}: (\\d+)`, 'm').exec(section)?.[1] ?? NaN);
  return { sent: field('sent packets'), received: field('received packets'), drops: field('drops'), nonUnique: field('non unique addresses') };
}

function dropPercent(stats: ExchangeStats): number {
  if (!(stats.sent > 0) || Number.isNaN(stats.drops)) return 100;
  return (100 * stats.drops) / stats.sent;
}

export interface PerfdhcpLoad {
  /** DORA exchanges started per second. */
  rate: number;
  seconds: number;
  /** perfdhcp -u: count addresses handed to more than one of its clients (into nonUnique). */
  checkUniqueness?: boolean;
}

/**
 * perfdhcp as a relay from `clientAddress` (DHCP-PXE-NOTES.md: -L 67, -W so in-flight replies are not drops),
 * full DORA from namespace `ns`; SIGKILLed if it is still running 20 s after the load's duration.
 */
export async function runPerfdhcp(ns: string, clientAddress: string, serverAddress: string, load: PerfdhcpLoad): Promise<PerfdhcpResult> {
  const { rate, seconds } = load;
  const argv = ['-4', '-l', clientAddress, '-L', '67', '-R', '100000000', '-r', String(rate), '-p', String(seconds), '-W', '1000000'];
  if (load.checkUniqueness) argv.push('-u');
  argv.push(serverAddress);
  const child = spawn('ip', ['netns', 'exec', ns, '/usr/sbin/perfdhcp', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let report = '';
  child.stdout.on('data', (chunk: Buffer) => (report += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (report += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), seconds * 1000 + 20_000);
  await exited;
  clearTimeout(timer);
  const discoverOffer = exchangeStats(report, 'DISCOVER-OFFER');
  const requestAck = exchangeStats(report, 'REQUEST-ACK');
  return { discoverOffer, requestAck, dropPercent: Math.max(dropPercent(discoverOffer), dropPercent(requestAck)), report };
}
