/**
 * A boot storm in one process: simulated iPXE machines that run Hangar's per-machine script the way iPXE does,
 * and the lab they storm (several `hangar serve` processes on one data directory, each one image mirror of one
 * site). Used by test/boot-storm.test.ts and bench/storm.ts.
 *
 * The simulated machine fetches /boot/ipxe/MAC and interprets the script's commands (labels, goto, `|| goto`,
 * set, imgfree, kernel, initrd, boot, sleep, echo, exit), as iPXE's own script parser and HTTP client would:
 *   - every image request says `User-Agent: iPXE/1.21.1`;
 *   - an answer other than 2xx that carries Retry-After is retried on the same URL after that many seconds
 *     (iPXE's http_transfer_complete does that for any status with Retry-After, with no count limit; a value that
 *     is not a plain number means 5 s);
 *   - `--timeout` of kernel/initrd bounds the time without progress (iPXE's monojob_wait resets it whenever body
 *     bytes arrive), so a mirror that keeps refusing or stalls is abandoned for the script's next mirror;
 *   - a refused connection, a reset, or a status without Retry-After fails the command, and `|| goto` moves on.
 * Unlike iPXE, each received body is checked against the catalogue's sha256, and `boot` fails on a mismatch.
 * Each request opens its own connection (iPXE keeps them alive; on loopback a fresh one costs the server little
 * and keeps stale-connection handling out of the simulator).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { HANGAR_BIN, hangar, startHangar, type RunningHangar } from './hangar-process.js';
import { stopProcess } from './netns.js';

export const IPXE_USER_AGENT = 'iPXE/1.21.1';

/** iPXE's HTTP_RETRY_SECONDS: the wait for a Retry-After it cannot read as a number of seconds. */
const UNREADABLE_RETRY_AFTER_SECONDS = 5;

/** The URL path of a catalogue file, `/boot/images/IMAGE/VERSION/FILE`, at the end of a mirror URL. */
const IMAGE_PATH = /\/boot\/images\/[^/]+\/[^/]+\/[^/]+$/;

export interface CatalogueFile {
  readonly size: number;
  readonly sha256: string;
}

/** Registered image files by URL path (`/boot/images/IMAGE/VERSION/FILE`). */
export type ImageCatalogue = ReadonlyMap<string, CatalogueFile>;

/** Every registered file of every image version, from GET /api/boot/image-versions/ (all pages). */
export async function fetchImageCatalogue(apiUrl: string, token: string): Promise<ImageCatalogue> {
  const catalogue = new Map<string, CatalogueFile>();
  let next: string | null = `${apiUrl}/api/boot/image-versions/?limit=1000`;
  for (let page = 0; next !== null; page++) {
    if (page >= 100) throw new Error('the image catalogue has more than 100 pages');
    const response = await fetch(next, { headers: { authorization: `Token ${token}` } });
    if (!response.ok) throw new Error(`GET ${next}: ${response.status} ${await response.text()}`);
    const body = (await response.json()) as { next: string | null; results: Array<Record<string, unknown> & { image: { name: string }; version: string }> };
    for (const row of body.results) {
      for (const role of ['kernel', 'initrd', 'rootfs']) {
        const file = row[role];
        const size = row[`${role}_size`];
        const sha256 = row[`${role}_sha256`];
        if (typeof file === 'string' && file !== '' && typeof size === 'number' && typeof sha256 === 'string' && sha256 !== '') {
          catalogue.set(`/boot/images/${encodeURIComponent(row.image.name)}/${encodeURIComponent(row.version)}/${encodeURIComponent(file)}`, { size, sha256 });
        }
      }
    }
    next = body.next;
  }
  return catalogue;
}

// ---------------------------------------------------------------------------------------------------------------
// The script

interface ScriptCommand {
  /** 1-based line of the script, for messages. */
  readonly line: number;
  readonly words: readonly string[];
  /** The label of `|| goto LABEL`, or null. */
  readonly onFailure: string | null;
}

export interface IpxeProgram {
  readonly commands: readonly ScriptCommand[];
  /** Label -> index of the command after it. */
  readonly labels: ReadonlyMap<string, number>;
}

/**
 * Parses the subset of iPXE script syntax Hangar writes: `#!ipxe`, comments, `:label` lines, `\` continuations,
 * commands split on whitespace, and `CMD || goto LABEL`. Anything else (`&&`, `;`, `||` followed by something
 * other than goto) throws, so a change in the script format fails loudly instead of being simulated wrongly.
 */
export function parseIpxeScript(script: string): IpxeProgram {
  const physical = script.split('\n');
  if (physical[0]?.trim() !== '#!ipxe') throw new Error(`not an iPXE script: ${JSON.stringify(script.slice(0, 80))}`);
  const commands: ScriptCommand[] = [];
  const labels = new Map<string, number>();
  for (let index = 1; index < physical.length; index++) {
    const line = index + 1;
    let text = physical[index]!;
    while (text.endsWith('\\') && index + 1 < physical.length) text = text.slice(0, -1) + physical[++index]!;
    const words: string[] = [];
    for (const word of text.trim().split(/\s+/)) {
      if (word === '') continue;
      if (word.startsWith('#')) break;
      words.push(word);
    }
    if (words.length === 0) continue;
    if (words.length === 1 && words[0]!.startsWith(':')) {
      labels.set(words[0]!.slice(1), commands.length);
      continue;
    }
    const or = words.indexOf('||');
    if (words.includes('&&') || words.includes(';')) throw new Error(`line ${line}: the simulator does not run '&&' or ';': ${text}`);
    if (or === -1) {
      commands.push({ line, words, onFailure: null });
    } else {
      const tail = words.slice(or + 1);
      if (tail.length !== 2 || tail[0] !== 'goto') throw new Error(`line ${line}: only '|| goto LABEL' is simulated: ${text}`);
      commands.push({ line, words: words.slice(0, or), onFailure: tail[1]! });
    }
  }
  for (const command of commands) {
    const target = command.words[0] === 'goto' ? command.words[1] : command.onFailure;
    if (target !== undefined && target !== null && !labels.has(target)) throw new Error(`line ${command.line}: no label ${target}`);
  }
  return { commands, labels };
}

/** The mirrors in the order the script tries them: the `set base` values up to the first repeat (round 1). */
export function scriptMirrorOrder(program: IpxeProgram): string[] {
  const order: string[] = [];
  for (const { words } of program.commands) {
    if (words[0] !== 'set' || words[1] !== 'base') continue;
    const base = words.slice(2).join(' ');
    if (order.includes(base)) break;
    order.push(base);
  }
  return order;
}

// ---------------------------------------------------------------------------------------------------------------
// One machine

export type TransferOutcome =
  /** 2xx, the whole body, and its sha256 is the catalogue's. */
  | 'ok'
  /** 2xx and the whole body, but not the catalogue's bytes (or a file the catalogue does not know). */
  | 'corrupt'
  /** The connection was refused or reset, or the body ended early. */
  | 'connection'
  /** A status other than 2xx without Retry-After. */
  | 'http-error'
  /** No progress within the command's --timeout (also while being refused with Retry-After). */
  | 'stalled'
  /** The machine gave up (its deadline or request budget ran out, or the run was interrupted). */
  | 'gave-up';

/** One `kernel` or `initrd` command: all the requests it made to one URL. */
export interface FileTransfer {
  readonly command: 'kernel' | 'initrd';
  /** `/boot/images/IMAGE/VERSION/FILE` */
  readonly path: string;
  /** The mirror's base URL, as the script set it. */
  readonly mirror: string;
  outcome: TransferOutcome;
  /** Status of the last answer, null when there was none. */
  status: number | null;
  /** Requests made, refusals included. */
  requests: number;
  /** Answers with Retry-After, each waited out and retried. */
  refusals: number;
  /** The Retry-After of each refusal, in seconds, as waited. */
  retryAfters: number[];
  /** Body bytes received from the mirror's 2xx answers (a partial body counts what arrived). */
  bytes: number;
  readonly startedMs: number;
  endedMs: number;
  detail: string | null;
}

export type MachineOutcome = 'booted' | 'exited' | 'failed';

export interface MachineBoot {
  readonly mac: string;
  outcome: MachineOutcome;
  /** Why the machine did not boot; null when it did. */
  failure: string | null;
  /** The script's mirror order (round 1). */
  mirrors: string[];
  transfers: FileTransfer[];
  /** The transfers of the kernel and initrd that were booted. */
  booted: { kernel: FileTransfer; initrd: FileTransfer | null } | null;
  /** `|| goto` jumps taken: failed commands that sent the script to another mirror or round. */
  failovers: number;
  /** Everything the script printed with `echo`. */
  console: string[];
  readonly startedMs: number;
  endedMs: number;
}

export interface MachineOptions {
  readonly mac: string;
  /** Where the machine chains its script from, e.g. `http://127.0.0.1:8080`. */
  readonly scriptServer: string;
  readonly catalogue: ImageCatalogue;
  /** The machine gives up after this long in all (script pauses and Retry-After waits included). */
  readonly deadlineMs: number;
  /** ... or after this many HTTP requests. */
  readonly maxRequests: number;
  /** Stops the machine early (it reports 'gave-up'), e.g. on SIGINT. */
  readonly signal?: AbortSignal;
}

/** Script commands a machine runs at most; Hangar's scripts need a few hundred even after all their rounds. */
const MAX_COMMANDS = 10_000;

class GaveUp extends Error {}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const done = () => {
      signal.removeEventListener('abort', stop);
      resolve();
    };
    const stop = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', stop, { once: true });
  });
}

export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body arrived in full (its Content-Length, or the end of a chunked body). */
  complete: boolean;
}

/** One GET on a fresh connection; `onBody` sees the body of a 2xx answer as it arrives, other bodies are drained. */
export function httpGet(url: string, userAgent: string, signal: AbortSignal, onBody: (chunk: Buffer) => void): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { 'user-agent': userAgent }, agent: false, signal }, (res) => {
      const status = res.statusCode ?? 0;
      const success = status >= 200 && status < 300;
      res.on('data', (chunk: Buffer) => {
        if (success) onBody(chunk);
      });
      res.on('error', () => {
        // 'close' below settles the answer as incomplete.
      });
      res.on('close', () => {
        if (signal.aborted) reject(signal.reason);
        else resolve({ status, headers: res.headers, complete: res.complete });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** Seconds to wait as iPXE reads Retry-After, or null when the answer has none. */
function retryAfterOf(headers: IncomingHttpHeaders): number | null {
  const value = headers['retry-after'];
  if (value === undefined) return null;
  return /^\d+$/.test(value.trim()) ? Number(value.trim()) : UNREADABLE_RETRY_AFTER_SECONDS;
}

/** Runs one simulated machine from its script request to `boot`, `exit` or giving up. Never throws. */
export async function bootMachine(options: MachineOptions): Promise<MachineBoot> {
  const { mac, catalogue } = options;
  const machine: MachineBoot = { mac, outcome: 'failed', failure: null, mirrors: [], transfers: [], booted: null, failovers: 0, console: [], startedMs: performance.now(), endedMs: 0 };
  const deadline = AbortSignal.timeout(options.deadlineMs);
  const stopped = options.signal ? AbortSignal.any([deadline, options.signal]) : deadline;
  let requests = 0;
  const gaveUp = () => new GaveUp(deadline.aborted ? `deadline of ${options.deadlineMs} ms passed` : 'interrupted');
  const budget = () => {
    if (stopped.aborted) throw gaveUp();
    if (requests >= options.maxRequests) throw new GaveUp(`made ${options.maxRequests} requests`);
    requests++;
  };

  /** One kernel/initrd command as iPXE runs it: requests to one URL until a whole body, a failure, or a stall. */
  const download = async (command: 'kernel' | 'initrd', url: string, timeoutMs: number): Promise<FileTransfer> => {
    const path = new URL(url).pathname.match(IMAGE_PATH)?.[0] ?? new URL(url).pathname;
    const transfer: FileTransfer = {
      command,
      path,
      mirror: url.slice(0, url.length - path.length),
      outcome: 'connection',
      status: null,
      requests: 0,
      refusals: 0,
      retryAfters: [],
      bytes: 0,
      startedMs: performance.now(),
      endedMs: 0,
      detail: null,
    };
    machine.transfers.push(transfer);
    const stall = new AbortController();
    const stallTimer = setTimeout(() => stall.abort(new Error('stalled')), timeoutMs);
    const signal = AbortSignal.any([stall.signal, stopped]);
    try {
      for (;;) {
        try {
          budget();
        } catch (error) {
          transfer.outcome = 'gave-up';
          throw error;
        }
        transfer.requests++;
        const hash = createHash('sha256');
        let received = 0;
        let answer: HttpAnswer;
        try {
          answer = await httpGet(url, IPXE_USER_AGENT, signal, (chunk) => {
            hash.update(chunk);
            received += chunk.length;
            transfer.bytes += chunk.length;
            stallTimer.refresh();
          });
        } catch (error) {
          if (stopped.aborted) {
            transfer.outcome = 'gave-up';
            throw gaveUp();
          }
          transfer.outcome = stall.signal.aborted ? 'stalled' : 'connection';
          transfer.detail = (error as NodeJS.ErrnoException).code ?? String(error);
          return transfer;
        }
        transfer.status = answer.status;
        if (answer.status >= 200 && answer.status < 300) {
          if (!answer.complete) {
            transfer.outcome = 'connection';
            transfer.detail = `body ended after ${received} bytes`;
            return transfer;
          }
          const expected = catalogue.get(path);
          const sha256 = hash.digest('hex');
          transfer.outcome = expected && expected.sha256 === sha256 && expected.size === received ? 'ok' : 'corrupt';
          if (transfer.outcome === 'corrupt') transfer.detail = expected ? `sha256 ${sha256}, ${received} bytes; expected ${expected.sha256}, ${expected.size} bytes` : 'not in the catalogue';
          return transfer;
        }
        const wait = retryAfterOf(answer.headers);
        if (wait === null) {
          transfer.outcome = 'http-error';
          return transfer;
        }
        transfer.refusals++;
        transfer.retryAfters.push(wait);
        try {
          await abortableSleep(wait * 1000, signal);
        } catch {
          if (stopped.aborted) {
            transfer.outcome = 'gave-up';
            throw gaveUp();
          }
          transfer.outcome = 'stalled';
          transfer.detail = `refused with Retry-After for ${timeoutMs} ms`;
          return transfer;
        }
      }
    } finally {
      clearTimeout(stallTimer);
      transfer.endedMs = performance.now();
    }
  };

  try {
    budget();
    let script: string;
    try {
      const fetched = await fetch(`${options.scriptServer}/boot/ipxe/${mac}`, { headers: { 'user-agent': IPXE_USER_AGENT }, signal: stopped });
      script = await fetched.text();
      if (fetched.status !== 200) throw new Error(`GET /boot/ipxe/${mac}: ${fetched.status} ${script}`);
    } catch (error) {
      if (stopped.aborted) throw gaveUp();
      throw error;
    }
    const program = parseIpxeScript(script);
    machine.mirrors = scriptMirrorOrder(program);
    const settings = new Map<string, string>([['net0/mac', mac.toLowerCase()], ['mac', mac.toLowerCase()]]);
    const expand = (word: string) => word.replace(/\$\{([^}]*)\}/g, (_, name: string) => settings.get(name) ?? '');
    let loaded: { kernel: FileTransfer | null; initrd: FileTransfer | null } = { kernel: null, initrd: null };

    let pc = 0;
    for (let executed = 0; ; executed++) {
      if (executed >= MAX_COMMANDS) throw new GaveUp(`ran ${MAX_COMMANDS} script commands`);
      const command = program.commands[pc];
      if (command === undefined) {
        // Falling off the end of a script returns to the firmware, as `exit` does.
        machine.outcome = 'exited';
        machine.failure = 'the script ended without booting';
        return machine;
      }
      pc++;
      const [name, ...args] = command.words.map(expand);
      let succeeded = true;
      switch (name) {
        case 'goto':
          pc = program.labels.get(args[0]!)!;
          continue;
        case 'set':
          settings.set(args[0]!, args.slice(1).join(' '));
          break;
        case 'echo':
          machine.console.push(args.join(' '));
          break;
        case 'imgfree':
          loaded = { kernel: null, initrd: null };
          break;
        case 'sleep':
          try {
            await abortableSleep(Number(args[0]) * 1000, stopped);
          } catch {
            throw gaveUp();
          }
          break;
        case 'exit':
          machine.outcome = 'exited';
          machine.failure = `the script exited${args[0] ? ` with ${args[0]}` : ''}: ${machine.console.at(-1) ?? ''}`;
          return machine;
        case 'kernel':
        case 'initrd': {
          let timeoutMs = 0;
          let url: string | undefined;
          for (let index = 0; index < args.length && url === undefined; index++) {
            const word = args[index]!;
            if (word === '--timeout') timeoutMs = Number(args[++index]);
            else if (word === '--name') index++;
            else if (word.startsWith('--')) throw new Error(`line ${command.line}: option ${word} is not simulated`);
            else url = word;
          }
          if (url === undefined) throw new Error(`line ${command.line}: ${name} without a URL`);
          // monojob_wait treats 0 as no timeout; the machine's deadline still bounds it.
          const transfer = await download(name, url, timeoutMs > 0 ? timeoutMs : options.deadlineMs);
          succeeded = transfer.outcome === 'ok' || transfer.outcome === 'corrupt';
          if (succeeded) loaded = { ...loaded, [name]: transfer };
          break;
        }
        case 'boot': {
          const { kernel, initrd } = loaded;
          succeeded = kernel !== null && kernel.outcome === 'ok' && (initrd === null || initrd.outcome === 'ok');
          if (succeeded) {
            machine.outcome = 'booted';
            machine.booted = { kernel: kernel!, initrd };
            return machine;
          }
          break;
        }
        default:
          throw new Error(`line ${command.line}: command ${name} is not simulated`);
      }
      if (!succeeded) {
        if (command.onFailure === null) {
          machine.failure = `line ${command.line}: ${name} failed and the script has no '|| goto'`;
          return machine;
        }
        machine.failovers++;
        pc = program.labels.get(command.onFailure)!;
      }
    }
  } catch (error) {
    machine.outcome = 'failed';
    machine.failure = error instanceof GaveUp ? `gave up: ${error.message}` : String(error);
    return machine;
  } finally {
    machine.endedMs = performance.now();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Summaries

export interface MirrorLoad {
  readonly mirror: string;
  /** Machines whose script lists this mirror first. */
  firstChoice: number;
  /** Files it served whole to a machine that booted them. */
  bootedFiles: number;
  /** Body bytes it sent in 2xx answers, partial bodies included. */
  bytes: number;
  /** Requests it was sent, refused ones included. */
  requests: number;
  /** Answers with Retry-After. */
  refusals: number;
}

/** Per mirror, in the order of `mirrors` (mirrors the machines used but `mirrors` lacks are appended). */
export function mirrorLoads(mirrors: readonly string[], boots: readonly MachineBoot[]): MirrorLoad[] {
  const loads = new Map<string, MirrorLoad>();
  const of = (mirror: string) => {
    let load = loads.get(mirror);
    if (!load) loads.set(mirror, (load = { mirror, firstChoice: 0, bootedFiles: 0, bytes: 0, requests: 0, refusals: 0 }));
    return load;
  };
  for (const mirror of mirrors) of(mirror);
  for (const boot of boots) {
    if (boot.mirrors[0] !== undefined) of(boot.mirrors[0]).firstChoice++;
    for (const transfer of boot.transfers) {
      const load = of(transfer.mirror);
      load.bytes += transfer.bytes;
      load.requests += transfer.requests;
      load.refusals += transfer.refusals;
    }
    if (boot.booted) {
      of(boot.booted.kernel.mirror).bootedFiles++;
      if (boot.booted.initrd) of(boot.booted.initrd.mirror).bootedFiles++;
    }
  }
  return [...loads.values()];
}

/** The largest value over the mean: 1 for a perfectly even spread. */
export function maxOverMean(values: readonly number[]): number {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  return Math.max(...values) / mean;
}

// ---------------------------------------------------------------------------------------------------------------
// Watching the servers

export interface ImageTransfers {
  limit: number;
  in_flight: number;
  peak: number;
  queued: number;
  admitted: number;
  refused: number;
}

export async function imageTransfers(serverUrl: string): Promise<ImageTransfers> {
  const response = await fetch(`${serverUrl}/api/status/`);
  if (!response.ok) throw new Error(`GET ${serverUrl}/api/status/: ${response.status}`);
  return ((await response.json()) as { image_transfers: ImageTransfers }).image_transfers;
}

export interface TransferWatch {
  readonly url: string;
  /** The most transfers in flight any poll saw. */
  maxInFlight: number;
  /** The mean over the polls: how busy the transfer slots were. */
  meanInFlight: number;
  maxQueued: number;
  polls: number;
  /** Polls that got no answer (the server was stopped, or too busy to answer within the interval). */
  unanswered: number;
}

/** Polls each server's /api/status/ every `intervalMs` until `stop`, keeping the largest in_flight seen. */
export function watchImageTransfers(urls: readonly string[], intervalMs: number): { stop(): Promise<TransferWatch[]> } {
  const watches = urls.map((url): TransferWatch => ({ url, maxInFlight: 0, meanInFlight: 0, maxQueued: 0, polls: 0, unanswered: 0 }));
  let stopping = false;
  const loops = watches.map(async (watch) => {
    while (!stopping) {
      const started = performance.now();
      try {
        const status = await imageTransfers(watch.url);
        watch.polls++;
        watch.meanInFlight += (status.in_flight - watch.meanInFlight) / watch.polls;
        watch.maxInFlight = Math.max(watch.maxInFlight, status.in_flight);
        watch.maxQueued = Math.max(watch.maxQueued, status.queued);
      } catch {
        watch.unanswered++;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, intervalMs - (performance.now() - started))));
    }
  });
  return {
    async stop() {
      stopping = true;
      await Promise.all(loops);
      return watches;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The lab: image servers of one site, machines with a profile, an image

export interface StormLabOptions {
  /** A scratch directory the lab may fill; the caller removes it. */
  readonly dir: string;
  /** `hangar serve` processes on the one data directory, each a mirror of the site. */
  readonly servers: number;
  /** `--max-image-transfers` of each server. */
  readonly maxImageTransfers: number;
  readonly machines: number;
  /** Sizes of the image's kernel and initrd, filled with random bytes. */
  readonly kernelBytes: number;
  readonly initrdBytes: number;
  /** Called as each server is up, before the lab is complete: lets an interrupted caller stop it by pid. */
  readonly onServerStarted?: (server: RunningHangar) => void;
}

export interface StormLab {
  readonly servers: RunningHangar[];
  /** The mirrors' base URLs, servers[i] is mirrors[i]. */
  readonly mirrors: string[];
  /** One per machine, in the inventory's spelling. */
  readonly macs: string[];
  readonly catalogue: ImageCatalogue;
  readonly token: string;
  /** Stops every server still running (by pid, SIGKILL after 10 s); the exit codes of those it stopped. */
  stop(): Promise<Array<number | null>>;
}

export const STORM_IMAGE = { name: 'storm', version: '1' } as const;

/** Locally administered and distinct per machine, in the inventory's spelling. */
export function stormMac(index: number): string {
  return `02:00:5E:${((index >> 16) & 0xff).toString(16).padStart(2, '0')}:${((index >> 8) & 0xff).toString(16).padStart(2, '0')}:${(index & 0xff).toString(16).padStart(2, '0')}`.toUpperCase();
}

/** Creates one object, or a list of them, through the API; returns the ids. */
async function post(url: string, token: string, path: string, body: unknown): Promise<number[]> {
  const response = await fetch(`${url}/api/${path}/`, {
    method: 'POST',
    headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (response.status !== 201) throw new Error(`POST /api/${path}/: ${response.status} ${text.slice(0, 500)}`);
  const created = JSON.parse(text) as { id: number } | Array<{ id: number }>;
  return (Array.isArray(created) ? created : [created]).map((row) => row.id);
}

/**
 * Starts `servers` image servers on one data directory and fills it through the API: one site with every server
 * as an enabled mirror of weight 100, an image version of random bytes registered with `hangar images add`, a
 * profile pinning it, and `machines` devices with one interface each. Stops what it started if it fails.
 */
export async function startStormLab(options: StormLabOptions): Promise<StormLab> {
  const dataDir = join(options.dir, 'data');
  const uploads = join(options.dir, 'upload');
  mkdirSync(uploads, { recursive: true });
  const created = hangar({ dataDir }, 'token', 'create', '--scope', 'write');
  if (created.status !== 0) throw new Error(`hangar token create: ${created.stderr}`);
  const token = created.stdout.trim();

  const servers: RunningHangar[] = [];
  const stop = async () => {
    const codes: Array<number | null> = [];
    for (const server of servers) {
      if (server.child.exitCode !== null || server.child.signalCode !== null) continue;
      await stopProcess(server.child);
      codes.push(server.child.exitCode);
    }
    return codes;
  };
  try {
    for (let index = 0; index < options.servers; index++) {
      const server = await startHangar({ dataDir }, ['--max-image-transfers', String(options.maxImageTransfers)]);
      servers.push(server);
      options.onServerStarted?.(server);
    }
    const api = servers[0]!.url;

    const kernel = join(uploads, 'vmlinuz');
    const initrd = join(uploads, 'initrd.img');
    writeFileSync(kernel, randomBytes(options.kernelBytes));
    writeFileSync(initrd, randomBytes(options.initrdBytes));
    const added = spawnSync(process.execPath, [HANGAR_BIN, 'images', 'add', STORM_IMAGE.name, STORM_IMAGE.version, '--kernel', kernel, '--initrd', initrd, '--json'], {
      env: { ...process.env, HANGAR_URL: api, HANGAR_TOKEN: token },
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (added.status !== 0) throw new Error(`hangar images add: ${added.stderr}`);
    const [versionId] = (JSON.parse(added.stdout) as Array<{ image_version: number }>).map((file) => file.image_version);

    const [site] = await post(api, token, 'dcim/sites', { name: 'Storm', slug: 'storm' });
    for (const [index, server] of servers.entries()) {
      await post(api, token, 'boot/mirrors', { name: `mirror-${index + 1}`, site, base_url: server.url, weight: 100, enabled: true });
    }
    const [profile] = await post(api, token, 'boot/profiles', { name: 'storm', image_version: versionId, kernel_args: 'console=ttyS0' });
    const [manufacturer] = await post(api, token, 'dcim/manufacturers', { name: 'Generic', slug: 'generic' });
    const [deviceType] = await post(api, token, 'dcim/device-types', { manufacturer, model: 'server', slug: 'server' });
    const [role] = await post(api, token, 'dcim/device-roles', { name: 'Server', slug: 'server' });
    const macs = Array.from({ length: options.machines }, (_, index) => stormMac(index));
    const BATCH = 250;
    for (let first = 0; first < macs.length; first += BATCH) {
      const batch = macs.slice(first, first + BATCH);
      const devices = await post(
        api,
        token,
        'dcim/devices',
        batch.map((_, offset) => ({ name: `node-${first + offset}`, device_type: deviceType, role, site, boot_profile: profile })),
      );
      await post(api, token, 'dcim/interfaces', devices.map((device, offset) => ({ device, name: 'eth0', mac_address: batch[offset] })));
    }
    const catalogue = await fetchImageCatalogue(api, token);
    return { servers, mirrors: servers.map((server) => server.url), macs, catalogue, token, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
