/**
 * Runs a real `ansible-playbook` against an inventory Hangar generates, and reports per-host results from the
 * jsonl callback. The run gets a private directory (inventory, extra vars, limit, Ansible's local temp), removed
 * afterwards, and its own process group, so a timeout or a cancel stops Ansible with all its workers and the
 * commands they run: SIGTERM to the group, SIGKILL after a grace period.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { InvalidError } from '../../core/errors.js';
import { playbookInvocation, type RunFiles } from './command.js';
import type { AnsibleEvent } from './events.js';
import { checkHostName, checkVars, renderInventory, type InventorySpec, type VarMap } from './inventory.js';
import { LineSplitter } from './lines.js';
import { runOutcome, type RunOutcome } from './outcome.js';
import { createRunFold, type RunSummary } from './summary.js';

export interface LogLine {
  readonly stream: 'stdout' | 'stderr';
  readonly text: string;
  /** Milliseconds since the process started. */
  readonly at: number;
}

export interface RunPlaybookOptions {
  /** Path of the playbook; a relative path is taken from `cwd` when given, else from Hangar's working directory. */
  readonly playbook: string;
  readonly inventory: InventorySpec;
  /** Host names to run on (`--limit`); all inventory hosts the playbook targets when absent. */
  readonly limit?: readonly string[];
  readonly extraVars?: VarMap;
  readonly forks?: number;
  /** Stop the run after this long; none when absent. */
  readonly timeoutMs?: number;
  /** Time between SIGTERM and SIGKILL when stopping. Default 5000. */
  readonly killGraceMs?: number;
  readonly signal?: AbortSignal;
  /**
   * Ansible's working directory, where it finds a project's ansible.cfg, roles and collections. Default: the
   * playbook's directory.
   */
  readonly cwd?: string;
  /** Default `ansible-playbook` from PATH (Debian's runs under /usr/bin/python3 by its shebang). */
  readonly ansiblePlaybook?: string;
  readonly hostKeyChecking?: boolean;
  /** Laid over the parent's environment and Hangar's Ansible settings. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Called once Ansible runs, with its pid, which is also its process group id: worth recording, so that after a
   * crash of Hangar the group can still be found and stopped.
   */
  readonly onSpawn?: (pid: number) => void;
  /** Every output line, as it arrives. Must not throw; an exception from it is caught and dropped. */
  readonly onLine?: (line: LogLine) => void;
  /** Every callback event, as it arrives (live progress). Must not throw, as `onLine`. */
  readonly onEvent?: (event: AnsibleEvent) => void;
  /** The log keeps lines until they reach this many characters in all, then only counts them. Default 64 Mi. */
  readonly maxLogChars?: number;
}

export interface PlaybookRun extends RunSummary {
  readonly outcome: RunOutcome;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  /** Also the process group id; undefined when cancelled before it started. */
  readonly pid: number | undefined;
  readonly durationMs: number;
  readonly log: readonly LogLine[];
  /** Lines left out of `log` once it reached `maxLogChars` (they still went to `onLine`). */
  readonly droppedLogLines: number;
}

const DEFAULT_KILL_GRACE_MS = 5000;
const DEFAULT_MAX_LOG_CHARS = 64 * 1024 * 1024;
/** After Ansible exits, how long a grandchild that kept its stdout open may delay the end of the run. */
const PIPE_DRAIN_MS = 2000;

/**
 * Runs the playbook and resolves when it has ended, whatever the outcome (see outcome.ts). Throws InvalidError
 * before starting anything for a bad inventory, limit, extra vars, fork count or timeout, and rejects when the
 * program cannot be started at all (not installed, say).
 */
export async function runPlaybook(options: RunPlaybookOptions): Promise<PlaybookRun> {
  const inventoryText = renderInventory(options.inventory);
  checkRunOptions(options);
  const dir = await mkdtemp(join(tmpdir(), 'hangar-ansible-'));
  try {
    const files: RunFiles = {
      inventory: join(dir, 'inventory.yml'),
      localTemp: join(dir, 'tmp'),
      ...(options.extraVars !== undefined && { extraVars: join(dir, 'extra-vars.json') }),
      ...(options.limit !== undefined && { limit: join(dir, 'limit.txt') }),
    };
    await writeFile(files.inventory, inventoryText, { mode: 0o600 });
    await mkdir(files.localTemp, { mode: 0o700 });
    if (files.extraVars !== undefined) await writeFile(files.extraVars, JSON.stringify(options.extraVars), { mode: 0o600 });
    if (files.limit !== undefined) await writeFile(files.limit, `${(options.limit ?? []).join('\n')}\n`, { mode: 0o600 });
    const playbook = options.cwd === undefined ? resolve(options.playbook) : resolve(options.cwd, options.playbook);
    const cwd = options.cwd === undefined ? dirname(playbook) : resolve(options.cwd);
    const invocation = playbookInvocation({ ...options, playbook }, files);
    return await execute(options, invocation.args, { ...process.env, ...invocation.env }, cwd);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function checkRunOptions(options: RunPlaybookOptions): void {
  if (options.limit !== undefined) {
    if (options.limit.length === 0) throw new InvalidError('limit: name at least one host, or leave the limit out', 'limit');
    options.limit.forEach((name, index) => checkHostName(name, `limit[${index}]`));
  }
  if (options.extraVars !== undefined) checkVars(options.extraVars, 'extraVars');
  if (options.forks !== undefined && (!Number.isSafeInteger(options.forks) || options.forks < 1)) {
    throw new InvalidError(`forks: ${options.forks} is not a positive whole number`, 'forks');
  }
  for (const field of ['timeoutMs', 'killGraceMs'] as const) {
    const value = options[field];
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new InvalidError(`${field}: ${value} is not a positive number of milliseconds`, field);
    }
  }
}

function execute(options: RunPlaybookOptions, args: readonly string[], env: NodeJS.ProcessEnv, cwd: string): Promise<PlaybookRun> {
  const started = performance.now();
  const fold = createRunFold();
  const log: LogLine[] = [];
  const maxLogChars = options.maxLogChars ?? DEFAULT_MAX_LOG_CHARS;
  let logChars = 0;
  let droppedLogLines = 0;

  const deliver = (stream: LogLine['stream'], text: string): void => {
    const line: LogLine = { stream, text, at: Math.round(performance.now() - started) };
    // Once full, the log stays full, so that what it keeps is a prefix of the output without holes.
    if (droppedLogLines === 0 && logChars + text.length <= maxLogChars) {
      log.push(line);
      logChars += text.length;
    } else {
      droppedLogLines++;
    }
    callSafely(options.onLine, line);
    if (stream === 'stdout') {
      const event = fold.addLine(text);
      if (event !== undefined) callSafely(options.onEvent, event);
    }
  };

  const finish = (facts: { exitCode: number | null; signal: NodeJS.Signals | null; timedOut: boolean; cancelled: boolean; pid: number | undefined }): PlaybookRun => {
    const summary = fold.summary();
    return {
      ...summary,
      ...facts,
      outcome: runOutcome({ ...facts, statsSeen: summary.statsSeen }),
      durationMs: Math.round(performance.now() - started),
      log,
      droppedLogLines,
    };
  };

  if (options.signal?.aborted) {
    return Promise.resolve(finish({ exitCode: null, signal: null, timedOut: false, cancelled: true, pid: undefined }));
  }

  return new Promise((resolvePromise, rejectPromise) => {
    const child = spawn(options.ansiblePlaybook ?? 'ansible-playbook', args, {
      cwd,
      env,
      detached: true, // its own process group (and session), whose id is its pid
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const pid = child.pid;
    let stopping: 'timeout' | 'cancel' | undefined;
    let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const timers: NodeJS.Timeout[] = [];

    const signalGroup = (signal: NodeJS.Signals): void => {
      if (pid === undefined) return;
      try {
        process.kill(-pid, signal);
      } catch {
        // ESRCH: the group is gone already, which is the point.
      }
    };
    const stop = (reason: 'timeout' | 'cancel'): void => {
      if (stopping !== undefined || exited !== undefined) return;
      stopping = reason;
      signalGroup('SIGTERM');
      timers.push(setTimeout(() => signalGroup('SIGKILL'), options.killGraceMs ?? DEFAULT_KILL_GRACE_MS));
    };
    const onAbort = (): void => stop('cancel');
    const cleanUp = (): void => {
      timers.forEach(clearTimeout);
      options.signal?.removeEventListener('abort', onAbort);
    };

    const flushes: (() => void)[] = [];
    for (const [stream, name] of [[child.stdout, 'stdout'], [child.stderr, 'stderr']] as const) {
      const decoder = new StringDecoder('utf8');
      const splitter = new LineSplitter();
      let flushed = false;
      const flush = (): void => {
        if (flushed) return;
        flushed = true;
        for (const line of [...splitter.push(decoder.end()), ...splitter.end()]) deliver(name, line);
      };
      flushes.push(flush);
      stream.on('data', (chunk: Buffer) => {
        if (flushed) return;
        for (const line of splitter.push(decoder.write(chunk))) deliver(name, line);
      });
      stream.on('end', flush);
    }

    child.on('error', (error) => {
      if (pid !== undefined) return; // errors after a successful spawn (a failed kill) end in 'close' anyway
      cleanUp();
      rejectPromise(error);
    });
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      // Workers or commands that outlived a stopped Ansible go now, not after the grace period.
      if (stopping !== undefined) signalGroup('SIGKILL');
      timers.push(
        setTimeout(() => {
          flushes.forEach((flush) => flush());
          child.stdout.destroy();
          child.stderr.destroy();
        }, PIPE_DRAIN_MS),
      );
    });
    child.on('close', () => {
      if (pid === undefined) return;
      cleanUp();
      resolvePromise(
        finish({
          exitCode: exited?.code ?? null,
          signal: exited?.signal ?? null,
          timedOut: stopping === 'timeout',
          cancelled: stopping === 'cancel',
          pid,
        }),
      );
    });

    if (pid !== undefined) {
      if (options.timeoutMs !== undefined) timers.push(setTimeout(() => stop('timeout'), options.timeoutMs));
      options.signal?.addEventListener('abort', onAbort, { once: true });
      callSafely(options.onSpawn, pid);
      // An abort listener added to an aborted signal never fires, and onSpawn may have been the one to abort.
      if (options.signal?.aborted) stop('cancel');
    }
  });
}

function callSafely<T>(callback: ((value: T) => void) | undefined, value: T): void {
  try {
    callback?.(value);
  } catch {
    // A broken subscriber (a closed SSE stream, say) must not take the run down with it.
  }
}
