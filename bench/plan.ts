import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Plan } from '../src/fleet/plan.js';
import { createTestDatabase, testBackends } from '../src/store/database-fixture.js';
import type { Backend } from '../src/store/store.js';
import { writeGeneratedFleet } from '../test/lab/fleet-repo.js';
import { hangar, HANGAR_BIN, startHangar, type RunningHangar } from '../test/lab/hangar-process.js';

/**
 * Fleet as code at scale: a generated repository of 10,000 devices (about 40,000 objects) planned and applied
 * through the real CLI against a real `hangar serve`, on SQLite and on PostgreSQL; then the no-change plan, which
 * is what CI runs on every review, and a plan after one device changed.
 *
 * The peer is the target: a no-change plan of 10,000 devices within 3 s. The ratio is 3 s / the worst
 * no-change median over the backends: above 1, the target is met.
 */

const TARGET_MS = 3000;
const NO_CHANGE_RUNS = 5;
/** Every CLI run is bounded; a run past its limit is killed and the bench fails naming it. */
const PLAN_TIMEOUT_MS = 5 * 60_000;
const APPLY_TIMEOUT_MS = 15 * 60_000;
const STOP_TIMEOUT_MS = 30_000;

interface BackendResult {
  backend: Backend;
  applySeconds: number;
  objectsPerSecond: number;
  noChangeMedianMs: number;
}

interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function devicesFromEnv(): number {
  const text = process.env.BENCH_PLAN_DEVICES ?? '10000';
  const devices = Number(text);
  if (!Number.isSafeInteger(devices) || devices < 1) throw new Error(`BENCH_PLAN_DEVICES: '${text}' is not a positive whole number`);
  return devices;
}

/**
 * The objects writeGeneratedFleet writes: 2 tenants, 1 tag, 1 manufacturer, 1 model, 2 roles, 2 sites and
 * 1 prefix, a rack per 40 devices, and per device the device, 2 interfaces and 1 address.
 */
function generatedObjects(devices: number): number {
  return 10 + Math.ceil(devices / 40) + 4 * devices;
}

/** Runs `hangar ARGS...` as a user would, talking to `server` only: no store settings reach it. */
function runCli(server: RunningHangar, token: string, args: string[], timeoutMs: number): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HANGAR_LOG_LEVEL: 'warn', HANGAR_URL: server.url, HANGAR_TOKEN: token };
  delete env.HANGAR_DATABASE_URL;
  delete env.HANGAR_DATA;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [HANGAR_BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`hangar ${args.join(' ')}: did not finish within ${timeoutMs / 1000} s, killed`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), ms: performance.now() - started });
    });
  });
}

/** The plan a `--json` run printed, once its exit status is the expected one. */
function planOf<T extends Plan>(run: CliRun, status: number, what: string): T {
  if (run.status !== status) throw new Error(`${what}: exit ${run.status} after ${(run.ms / 1000).toFixed(1)} s, expected ${status}: ${run.stderr.slice(-2000) || run.stdout.slice(0, 2000)}`);
  return JSON.parse(run.stdout) as T;
}

function expect(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

/** Gives device `name` a serial in the file that holds it; returns the function that restores the file. */
function setSerial(repo: string, name: string, serial: string): () => void {
  const line = `  - name: ${name}\n`;
  for (const file of readdirSync(join(repo, 'devices'))) {
    const path = join(repo, 'devices', file);
    const original = readFileSync(path, 'utf8');
    if (!original.includes(line)) continue;
    writeFileSync(path, original.replace(line, `${line}    serial: ${serial}\n`));
    return () => writeFileSync(path, original);
  }
  throw new Error(`no file of ${repo}/devices holds device ${name}`);
}

/** Waits for `work`, failing after `ms`. */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([work, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000} s`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function median(sorted: readonly number[]): number {
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

async function measure(backend: Backend, server: RunningHangar, token: string, repo: string, devices: number): Promise<BackendResult> {
  const objects = generatedObjects(devices);
  const plan = () => runCli(server, token, ['plan', '--repo', repo, '--json'], PLAN_TIMEOUT_MS);

  const initial = await plan();
  const { summary } = planOf(initial, 2, 'the initial plan');
  expect(summary.create === objects && summary.update === 0 && summary.delete === 0, `the initial plan: ${JSON.stringify(summary)}, expected ${objects} creates only`);
  console.log(`  initial plan: ${summary.create} creates in ${Math.round(initial.ms)} ms`);

  // The CLI plans, then applies that plan: what an operator's `hangar apply` costs, start to end.
  const applyRun = await runCli(server, token, ['apply', '--repo', repo, '--yes', '--json'], APPLY_TIMEOUT_MS);
  const applied = planOf<Plan & { applied: boolean }>(applyRun, 0, 'apply');
  expect(applied.applied && applied.summary.create === objects, `apply: applied ${applied.applied}, ${JSON.stringify(applied.summary)}, expected ${objects} creates`);
  const applySeconds = applyRun.ms / 1000;
  const objectsPerSecond = objects / applySeconds;
  console.log(`  apply: ${objects} objects in ${applySeconds.toFixed(1)} s, ${Math.round(objectsPerSecond)} objects/s`);

  const timings: number[] = [];
  for (let i = 0; i < NO_CHANGE_RUNS; i++) {
    const run = await plan();
    const { changes } = planOf(run, 0, `no-change plan ${i + 1}`);
    expect(changes.length === 0, `no-change plan ${i + 1}: ${changes.length} changes`);
    timings.push(run.ms);
  }
  const sorted = [...timings].sort((a, b) => a - b);
  const noChangeMedianMs = median(sorted);
  console.log(`  no-change plan x${NO_CHANGE_RUNS}: median ${Math.round(noChangeMedianMs)} ms, max ${Math.round(sorted.at(-1) ?? Number.NaN)} ms (${timings.map((t) => Math.round(t)).join(', ')} ms)`);

  const name = `node${Math.floor(devices / 2)}`;
  const restore = setSerial(repo, name, 'BENCH-0001');
  try {
    const run = await plan();
    const { changes } = planOf(run, 2, 'one-device change plan');
    const [change] = changes;
    expect(
      changes.length === 1 && change?.action === 'update' && change.objectType === 'dcim.device' && change.fields.map((f) => f.field).join() === 'serial',
      `one-device change plan: expected 1 update of ${name}'s serial, got ${JSON.stringify(changes).slice(0, 1000)}`,
    );
    console.log(`  one-device change plan: 1 update (${name} serial) in ${Math.round(run.ms)} ms`);
  } finally {
    restore();
  }
  return { backend, applySeconds, objectsPerSecond, noChangeMedianMs };
}

async function runBackend(backend: Backend, repo: string, devices: number): Promise<BackendResult> {
  const database = await createTestDatabase(backend);
  let server: RunningHangar | undefined;
  try {
    const created = hangar(database.location, 'token', 'create', '--scope', 'admin', '--description', 'bench/plan');
    if (created.status !== 0) throw new Error(`hangar token create: exit ${created.status}: ${created.stderr}`);
    const token = created.stdout.trim();
    server = await startHangar(database.location);
    // The machine may be shared: the load average tells how far the figures are from an idle one.
    console.log(`${backend}: hangar serve answered after ${Math.round(server.readyAfterMs)} ms (load average ${loadavg()[0]?.toFixed(1)})`);
    return await measure(backend, server, token, repo, devices);
  } finally {
    if (server) {
      const running = server;
      const code = await within(running.stop(), STOP_TIMEOUT_MS, `${backend}: stopping hangar serve`).catch(() => running.stop('SIGKILL'));
      if (code !== 0) console.error(`${backend}: hangar serve exited with ${code}: ${running.stderr().slice(-2000)}`);
    }
    await database.drop();
  }
}

async function main(): Promise<void> {
  const devices = devicesFromEnv();
  if (!testBackends.includes('postgres')) console.error('plan: HANGAR_TEST_PG_URL is not set, measuring SQLite only (bench/plan starts a PostgreSQL)');
  const repo = mkdtempSync(join(tmpdir(), 'hangar-bench-plan-'));
  const results: BackendResult[] = [];
  try {
    const started = performance.now();
    writeGeneratedFleet(repo, devices);
    console.log(`plan: generated ${devices} devices, ${generatedObjects(devices)} objects, in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    for (const backend of testBackends) results.push(await runBackend(backend, repo, devices));
  } finally {
    rmSync(repo, { recursive: true, force: true });
  }
  const ratio = TARGET_MS / Math.max(...results.map((r) => r.noChangeMedianMs));
  const figures = results
    .map((r) => `${r.backend} no-change ${Math.round(r.noChangeMedianMs)} ms, apply ${r.applySeconds.toFixed(1)} s (${Math.round(r.objectsPerSecond)}/s)`)
    .join('; ');
  console.log(`plan: ${figures}, ratio ${ratio.toFixed(2)} against the ${TARGET_MS / 1000} s target`);
}

await main();
