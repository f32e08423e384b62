import { spawn } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startHangar } from '../test/lab/hangar-process.js';
import { seedStore } from '../test/lab/seed.js';
import { IMAGE, imageFilePath, imageVersionDir, median, runWrk, seedImageVersion, startNginx, withScratch, type Scratch, type WrkResult } from './boot-http.js';

/**
 * Image serving: aggregate throughput of 200 concurrent downloads of a 256 MiB root filesystem from `hangar serve`
 * (GET /boot/images/IMAGE/VERSION/FILE, behind its admission gate) and from Debian's nginx serving the same file
 * (one inode, hard-linked, so both read the same page cache), over loopback, in the same run.
 *
 * The client is wrk -t2 -c200: it opens all 200 connections at once, re-requests the file as soon as one ends, counts
 * every byte read (also of transfers cut off by the end of the run) and times its own window. The alternatives
 * measured worse: 200 curl processes took seconds to spawn under load, so the first transfers ran alone, and 200
 * runnable clients outvote a one-process server in the scheduler (some got no answer within 8 s, from nginx too);
 * two curls running 100 transfers each (--parallel) cost 20 to 30 % less CPU per byte than wrk but started their
 * transfers up to 2 s late when nginx flooded them and not with Hangar, so their window depended on the server.
 *
 * Over loopback the receiving copy is charged to the client, on the same 2 CPUs, and it depends on how the server
 * sent: wrk spent 1.7 to 1.8 CPU-seconds per GB reading from nginx with sendfile, 1.0 to 1.1 from nginx without it,
 * and 0.7 from Hangar. sendfile's saving on the server is paid back at the client, so nginx runs both ways and
 * the ratio is against the faster: Hangar's throughput over nginx's best. The target is 0.9.
 *
 * During each run a 201st client asks for the file's first byte, again a second after each answer: how long a
 * machine that starts booting now waits for its first byte while 200 others download. A wait that lasts until
 * the 200 stop is cut short by the end of the run, and then there is only one probe. High throughput with a slow
 * first byte means the server favours the transfers it has over newcomers: read the two figures together.
 *
 * Rounds alternate the order of the servers; the figures are medians.
 */

const FILE_BYTES = 256 * 1024 * 1024;
const DOWNLOADS = 200;
const SECONDS = Number(process.env.BENCH_IMAGES_SECONDS ?? 15);
const ROUNDS = Number(process.env.BENCH_IMAGES_ROUNDS ?? 3);
/** The first probe waits for all 200 transfers to be under way. */
const PROBE_FROM_SECONDS = 3;

/** Random bytes, so no layer on the way can compress or deduplicate them. */
function writeRandomFile(path: string, bytes: number): void {
  const chunk = Buffer.allocUnsafe(16 * 1024 * 1024);
  const fd = openSync(path, 'w', 0o644);
  try {
    for (let written = 0; written < bytes; written += chunk.length) writeSync(fd, randomFillSync(chunk), 0, Math.min(chunk.length, bytes - written));
  } finally {
    closeSync(fd);
  }
}

function readHead(path: string, bytes: number): Buffer {
  const head = Buffer.alloc(bytes);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, head, 0, bytes, 0);
  } finally {
    closeSync(fd);
  }
  return head;
}

/** Fails unless `url` serves the whole file's length and its first bytes, so a 404 or 503 is never timed. */
async function checkServes(name: string, url: string, head: Buffer): Promise<void> {
  const whole = await fetch(url, { method: 'HEAD' });
  const part = await fetch(url, { headers: { range: `bytes=0-${head.length - 1}` } });
  const body = Buffer.from(await part.arrayBuffer());
  if (whole.status !== 200 || Number(whole.headers.get('content-length')) !== FILE_BYTES || part.status !== 206 || !body.equals(head)) {
    throw new Error(`${name} does not serve ${url}: HEAD ${whole.status} length ${whole.headers.get('content-length')}, range GET ${part.status}`);
  }
}

/** Seconds to the first byte of a one-byte range request, or Infinity when none came within `limitSeconds`. */
async function firstByteSeconds(scratch: Scratch, url: string, limitSeconds: number): Promise<number> {
  const child = spawn('/usr/bin/curl', ['--silent', '--output', '/dev/null', '--range', '0-0', '--max-time', String(limitSeconds), '--write-out', '%{http_code} %{time_starttransfer}', url], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  scratch.own(child);
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await new Promise((resolve) => child.once('close', resolve));
  const [status = '', seconds = ''] = output.trim().split(' ');
  return status === '206' ? Number(seconds) : Number.POSITIVE_INFINITY;
}

/** Probes one after another, a second apart, from PROBE_FROM_SECONDS until the run's last second. */
async function probeWhileLoaded(scratch: Scratch, url: string, runSeconds: number): Promise<number[]> {
  const started = performance.now();
  const elapsed = () => (performance.now() - started) / 1000;
  const probes: number[] = [];
  await sleep(PROBE_FROM_SECONDS * 1000);
  while (elapsed() < runSeconds - 1) {
    probes.push(await firstByteSeconds(scratch, url, runSeconds));
    await sleep(1000);
  }
  return probes;
}

interface Run {
  wrk: WrkResult;
  probes: number[];
}

const gbitPerSecond = (run: Run) => (run.wrk.bytes * 8) / run.wrk.seconds / 1e9;
const seconds = (value: number) => (Number.isFinite(value) ? `${value.toFixed(3)} s` : 'none');

function describe(name: string, round: number, run: Run): string {
  const { wrk, probes } = run;
  const { connect, read, write } = wrk.errors;
  return (
    `${name.padEnd(16)} round ${round}: ${gbitPerSecond(run).toFixed(2)} Gbit/s (${(wrk.bytes / wrk.seconds / 1e6).toFixed(0)} MB/s, ` +
    `${(wrk.bytes / 1e9).toFixed(2)} GB in ${wrk.seconds.toFixed(2)} s), ${wrk.requests} whole files, errors connect/read/write ${connect}/${read}/${write}, ` +
    `non-2xx ${wrk.non2xx}; first byte of a 201st: median ${seconds(median(probes))}, max ${seconds(Math.max(...probes))} (${probes.length} probes); ` +
    `load ${loadavg()[0]!.toFixed(2)}`
  );
}

async function measure(scratch: Scratch): Promise<void> {
  const source = join(scratch.dir, 'random.bin');
  writeRandomFile(source, FILE_BYTES);

  // Registered as an upload would be (hashed, synced, moved into DATA/images), so Hangar serves it with its checksum.
  const dataDir = join(scratch.dir, 'hangar');
  const registering = performance.now();
  await seedStore(dataDir, async (create, registerImageFile) => {
    await registerImageFile(await seedImageVersion(create), 'rootfs', source);
  });
  console.log(`registered it in ${Math.round(performance.now() - registering)} ms`);
  const nginxRoot = join(scratch.dir, 'nginx-root');
  const nginxFile = join(nginxRoot, imageFilePath(IMAGE.rootfs));
  mkdirSync(dirname(nginxFile), { recursive: true });
  linkSync(join(imageVersionDir(dataDir), IMAGE.rootfs), nginxFile);

  const hangar = await startHangar({ dataDir }, ['--max-image-transfers', '256']);
  scratch.own(hangar.child);
  const nginx = await startNginx(scratch, nginxRoot);
  // Reading into its own buffers, as Hangar does: cheaper for the client over loopback (see above).
  const nginxCopying = await startNginx(scratch, nginxRoot, 'location /boot/ { sendfile off; output_buffers 1 1m; }');
  const head = readHead(nginxFile, 4096);
  const servers = [
    { name: 'hangar', base: hangar.url, runs: [] as Run[] },
    { name: 'nginx sendfile', base: nginx.url, runs: [] as Run[] },
    { name: 'nginx no sendfile', base: nginxCopying.url, runs: [] as Run[] },
  ];
  for (const server of servers) await checkServes(server.name, `${server.base}${imageFilePath(IMAGE.rootfs)}`, head);

  console.log(`load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const server of round % 2 === 1 ? servers : [...servers].reverse()) {
      const url = `${server.base}${imageFilePath(IMAGE.rootfs)}`;
      const [wrk, probes] = await Promise.all([
        runWrk(scratch, url, { threads: 2, connections: DOWNLOADS, seconds: SECONDS, timeoutSeconds: 60 }),
        probeWhileLoaded(scratch, url, SECONDS),
      ]);
      if (round === 1) console.log(`  ${wrk.command}`);
      const run = { wrk, probes };
      console.log(describe(server.name, round, run));
      server.runs.push(run);
    }
  }
  console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (hangar.stderr().trim() !== '') console.log(`hangar's stderr (last 2000 characters):\n${hangar.stderr().slice(-2000)}`);
  if (servers.some((server) => server.runs.some(({ wrk }) => wrk.non2xx + wrk.errors.connect + wrk.errors.read + wrk.errors.write > 0))) {
    console.log(`warning: some requests failed (see above); nginx's error logs: ${nginx.errors().slice(-2000)}${nginxCopying.errors().slice(-2000)}`);
  }

  // A run's probes are few and skewed (one that waits long leaves room for no others): the median of its median.
  const [hangarFigures, sendfileFigures, copyingFigures] = servers.map((server) => ({
    rate: median(server.runs.map(gbitPerSecond)),
    firstByte: median(server.runs.map((run) => median(run.probes))),
  })) as [{ rate: number; firstByte: number }, { rate: number; firstByte: number }, { rate: number; firstByte: number }];
  const nginxBest = sendfileFigures.rate >= copyingFigures.rate ? sendfileFigures : copyingFigures;
  console.log(
    `images: hangar ${hangarFigures.rate.toFixed(2)} Gbit/s (a 201st download's first byte after ${seconds(hangarFigures.firstByte)}), ` +
      `nginx ${nginxBest.rate.toFixed(2)} Gbit/s (${seconds(nginxBest.firstByte)}; sendfile ${sendfileFigures.rate.toFixed(2)}, without ${copyingFigures.rate.toFixed(2)}), ` +
      `${DOWNLOADS} concurrent downloads of a 256 MiB file, medians of ${ROUNDS} x ${SECONDS} s, ratio ${(hangarFigures.rate / nginxBest.rate).toFixed(2)} against nginx`,
  );
}

await withScratch('images', measure);
