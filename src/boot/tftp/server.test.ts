/**
 * The TFTP server against real clients (tftp-hpa's `tftp`, `atftp`) and a raw dgram client for what no real
 * client does on purpose: wrong TIDs, malformed packets, lost ACKs, partial window ACKs, block-number rollover.
 * All traffic is on 127.0.0.1 with the server on an ephemeral port.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeTftpPacket, encodeTftpPacket, type TftpOption, type TftpPacket } from './codec.js';
import { TftpServer, type TftpServerOptions, type TftpTransferEvent } from './server.js';

const HPA_TFTP = '/usr/bin/tftp';
const ATFTP = '/usr/bin/atftp';
const needsHpa = existsSync(HPA_TFTP) ? false : 'needs tftp-hpa (/usr/bin/tftp)';
const needsAtftp = existsSync(ATFTP) ? false : 'needs atftp (/usr/bin/atftp)';
const IPXE_DIR = '/usr/lib/ipxe';
const needsIpxe = existsSync(path.join(IPXE_DIR, 'undionly.kpxe')) ? false : "needs Debian's ipxe package";

const SMALL = 1000;
/** Over the 2 MiB cache limit, so it is read block by block from its file handle. */
const LARGE = 2.5 * 1024 * 1024;
/** 65,600 blocks of 8 bytes and the empty final block: just past the 65,535 wrap, to keep the test fast. */
const ROLLOVER = 65_600 * 8;

let base: string;
let root: string;
let lower: string;
let outside: string;
let work: string;

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

before(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'hangar-tftp-server-')));
  root = path.join(base, 'boot');
  lower = path.join(base, 'lower');
  outside = path.join(base, 'outside');
  work = path.join(base, 'work');
  for (const dir of [root, lower, outside, work, path.join(root, 'sub')]) await fs.mkdir(dir);
  await fs.writeFile(path.join(root, 'small.bin'), randomBytes(SMALL));
  await fs.writeFile(path.join(root, 'large.bin'), randomBytes(LARGE));
  await fs.writeFile(path.join(root, 'rollover.bin'), randomBytes(ROLLOVER));
  await fs.writeFile(path.join(root, 'window.bin'), randomBytes(512 * 10 + 100));
  await fs.writeFile(path.join(root, 'boot.cfg'), '#!ipxe\r\nchain http://10.0.0.1/boot\nbare\rcr\n');
  await fs.writeFile(path.join(root, 'shared.txt'), 'upper');
  await fs.writeFile(path.join(lower, 'shared.txt'), 'lower');
  await fs.writeFile(path.join(lower, 'only-lower.txt'), 'only in the lower root');
  await fs.writeFile(path.join(outside, 'secret'), 'secret');
  await fs.writeFile(path.join(work, 'upload.txt'), 'upload');
  await fs.symlink(path.join(outside, 'secret'), path.join(root, 'escape'));
  await fs.symlink(outside, path.join(root, 'escape-dir'));
});

after(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

/** A server on 127.0.0.1:0 whose events the test can wait for. */
async function startServer(options: Partial<TftpServerOptions> = {}) {
  const events: TftpTransferEvent[] = [];
  const waiters: (() => void)[] = [];
  const server = await TftpServer.start({
    roots: [root],
    port: 0,
    address: '127.0.0.1',
    ...options,
    // A long default timeout, so a slow, loaded test machine never sees a retransmission the test did not ask for.
    limits: { defaultTimeoutSeconds: 5, ...options.limits },
    onTransfer: (event) => {
      events.push(event);
      for (const wake of waiters.splice(0)) wake();
      options.onTransfer?.(event);
    },
  });
  let consumed = 0;
  /** The n-th event (from 1; by default the one after the last asked for), waiting up to 5 s for it. */
  async function event(n = consumed + 1): Promise<TftpTransferEvent> {
    consumed = Math.max(consumed, n);
    const deadline = Date.now() + 5000;
    while (events.length < n) {
      if (Date.now() > deadline) throw new Error(`no event ${n} within 5 s`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
    return events[n - 1] as TftpTransferEvent;
  }
  return { server, events, event };
}

interface Run {
  code: number | null;
  output: string;
}

/** Runs a client without blocking the event loop the server lives on; killed after timeoutMs. */
function run(command: string, args: readonly string[], timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function hpaGet(port: number, remote: string, local: string, mode: 'binary' | 'ascii' = 'binary'): Promise<Run> {
  return run(HPA_TFTP, ['-m', mode, '127.0.0.1', String(port), '-c', 'get', remote, path.join(work, local)]);
}

interface Received {
  readonly packet: TftpPacket;
  readonly port: number;
}

/** A TFTP client made of a bare dgram socket. */
class RawClient {
  private readonly queue: Received[] = [];
  private wake: (() => void) | null = null;
  /** When set, packets go here instead of the queue. */
  onPacket: ((received: Received) => void) | null = null;
  /** Closing the socket cancels a send still queued, such as the final ACK. */
  private lastSend: Promise<void> = Promise.resolve();

  private constructor(private readonly socket: dgram.Socket) {
    socket.on('message', (message, from) => {
      const received = { packet: decodeTftpPacket(message), port: from.port };
      if (this.onPacket) return this.onPacket(received);
      this.queue.push(received);
      this.wake?.();
    });
  }

  static async open(): Promise<RawClient> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    return new RawClient(socket);
  }

  get port(): number {
    return this.socket.address().port;
  }

  send(packet: TftpPacket | Uint8Array, port: number): void {
    const bytes = packet instanceof Uint8Array ? packet : encodeTftpPacket(packet);
    this.lastSend = new Promise((resolve) => this.socket.send(bytes, port, '127.0.0.1', () => resolve()));
  }

  rrq(port: number, filename: string, options: TftpOption[] = []): void {
    this.send({ kind: 'rrq', filename, mode: 'octet', options }, port);
  }

  ack(port: number, block: number): void {
    this.send({ kind: 'ack', block }, port);
  }

  /** The next packet, or null after timeoutMs. */
  async next(timeoutMs = 3000): Promise<Received | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = null;
    }
    return this.queue.shift() ?? null;
  }

  async expect(timeoutMs = 3000): Promise<Received> {
    const received = await this.next(timeoutMs);
    assert.ok(received, `nothing received within ${timeoutMs} ms`);
    return received;
  }

  async close(): Promise<void> {
    await this.lastSend;
    this.socket.close();
  }
}

function dataOf(received: Received): { block: number; data: Uint8Array } {
  const { packet } = received;
  if (packet.kind !== 'data') assert.fail(`expected DATA, got ${JSON.stringify(packet)}`);
  return packet;
}

/**
 * A whole download, ACKing every windowsize blocks (or the last): what an RFC 7440 client does without loss.
 * Returns the content and the wire block numbers in the order received. Driven by callbacks, not one promise per
 * packet, so the 65,601 blocks of the rollover test stay fast.
 */
async function download(client: RawClient, port: number, filename: string, options: TftpOption[] = []) {
  const value = (name: string) => options.find((option) => option.name === name)?.value;
  const blksize = Number(value('blksize') ?? 512);
  const windowsize = Number(value('windowsize') ?? 1);
  const chunks: Uint8Array[] = [];
  const blocks: number[] = [];
  let sinceAck = 0;
  let lastPacketAt = Date.now();
  const finished = new Promise<void>((resolve, reject) => {
    const watchdog = setInterval(() => {
      if (Date.now() - lastPacketAt < 3000) return;
      finish();
      reject(new Error(`stalled after ${blocks.length} blocks`));
    }, 250);
    const finish = () => {
      clearInterval(watchdog);
      client.onPacket = null;
    };
    client.onPacket = ({ packet, port: tid }) => {
      lastPacketAt = Date.now();
      if (packet.kind === 'oack') return client.ack(tid, 0);
      if (packet.kind !== 'data') {
        finish();
        return reject(new Error(`expected DATA, got ${JSON.stringify(packet)}`));
      }
      if (packet.block !== (blocks.length + 1) % 65536) return;
      blocks.push(packet.block);
      chunks.push(packet.data);
      sinceAck++;
      const last = packet.data.length < blksize;
      if (last || sinceAck === windowsize) {
        client.ack(tid, packet.block);
        sinceAck = 0;
      }
      if (!last) return;
      finish();
      resolve();
    };
  });
  client.rrq(port, filename, options);
  await finished;
  return { content: Buffer.concat(chunks), blocks };
}

describe('TFTP server with real clients', { concurrency: true }, () => {
  test('tftp-hpa fetches a small and a large file intact', { skip: needsHpa }, async () => {
    const { server, event } = await startServer();
    try {
      for (const [name, size] of [['small.bin', SMALL], ['large.bin', LARGE]] as const) {
        const result = await hpaGet(server.port, name, name);
        assert.equal(result.code, 0, result.output);
        const original = await fs.readFile(path.join(root, name));
        assert.equal(sha256(await fs.readFile(path.join(work, name))), sha256(original));
        const sent = await event();
        assert.equal(sent.outcome, 'sent');
        assert.equal(sent.file, name);
        assert.equal(sent.bytes, size);
        assert.equal(sent.servedFrom, path.join(root, name));
        assert.deepEqual(sent.options, { blksize: 512, windowsize: 1, timeoutSeconds: 5, acknowledged: [] });
        assert.equal(sent.client.address, '127.0.0.1');
      }
      assert.equal(server.counters.transfersCompleted, 2);
      assert.ok(server.counters.bytesSent >= SMALL + LARGE);
    } finally {
      await server.stop();
    }
  });

  test('tftp-hpa in netascii mode gets the text back as it is', { skip: needsHpa }, async () => {
    const { server, event } = await startServer();
    try {
      const result = await hpaGet(server.port, 'boot.cfg', 'boot.cfg', 'ascii');
      assert.equal(result.code, 0, result.output);
      const original = await fs.readFile(path.join(root, 'boot.cfg'), 'utf8');
      assert.equal(await fs.readFile(path.join(work, 'boot.cfg'), 'utf8'), original);
      assert.equal((await event()).mode, 'netascii');
    } finally {
      await server.stop();
    }
  });

  test('atftp negotiates blksize, tsize, timeout and windowsize', { skip: needsAtftp }, async () => {
    const { server, event } = await startServer();
    try {
      const options = ['blksize 1428', 'tsize enable', 'timeout 2', 'windowsize 4'].flatMap((option) => ['--option', option]);
      const local = path.join(work, 'atftp-large.bin');
      const result = await run(ATFTP, [...options, '-g', '-r', 'large.bin', '-l', local, '127.0.0.1', String(server.port)]);
      assert.equal(result.code, 0, result.output);
      assert.equal(sha256(await fs.readFile(local)), sha256(await fs.readFile(path.join(root, 'large.bin'))));
      const sent = await event();
      assert.equal(sent.outcome, 'sent');
      assert.deepEqual(sent.options, {
        blksize: 1428,
        windowsize: 4,
        timeoutSeconds: 2,
        acknowledged: [
          { name: 'tsize', value: String(LARGE) },
          { name: 'timeout', value: '2' },
          { name: 'blksize', value: '1428' },
          { name: 'windowsize', value: '4' },
        ],
      });
    } finally {
      await server.stop();
    }
  });

  test('atftp asking for more than the limits gets them lowered', { skip: needsAtftp }, async () => {
    const { server, event } = await startServer({ limits: { maxBlksize: 1024, maxWindowsize: 8 } });
    try {
      const options = ['blksize 9000', 'windowsize 64'].flatMap((option) => ['--option', option]);
      const local = path.join(work, 'atftp-small.bin');
      const result = await run(ATFTP, [...options, '-g', '-r', 'small.bin', '-l', local, '127.0.0.1', String(server.port)]);
      assert.equal(result.code, 0, result.output);
      assert.deepEqual(await fs.readFile(local), await fs.readFile(path.join(root, 'small.bin')));
      const sent = await event();
      assert.equal(sent.options?.blksize, 1024);
      assert.equal(sent.options?.windowsize, 8);
    } finally {
      await server.stop();
    }
  });

  test('a missing file is ERROR 1', { skip: needsHpa }, async () => {
    const { server, event } = await startServer();
    try {
      const result = await hpaGet(server.port, 'missing.bin', 'missing.bin');
      assert.match(result.output, /Error code 1: file not found/);
      const missing = await event();
      assert.equal(missing.outcome, 'not-found');
      assert.equal(missing.options, null);
      assert.equal(server.counters.errors['not-found'], 1);
    } finally {
      await server.stop();
    }
  });

  test('a write request is refused with ERROR 2', { skip: needsHpa }, async () => {
    const { server, event } = await startServer();
    try {
      const args = ['-m', 'binary', '127.0.0.1', String(server.port), '-c', 'put', 'upload.txt', 'upload.txt'];
      const result = await run(HPA_TFTP, args);
      assert.match(result.output, /Error code 2: read-only server/);
      assert.equal((await event()).outcome, 'refused');
      assert.equal(server.counters.errors['write-request'], 1);
      assert.ok(!existsSync(path.join(root, 'upload.txt')));
    } finally {
      await server.stop();
    }
  });

  test('a boot storm of 12 clients reads the file from disk once', { skip: needsHpa }, async () => {
    const { server, events } = await startServer();
    try {
      const fetch = (_: unknown, i: number) => hpaGet(server.port, 'small.bin', `storm-${i}.bin`);
      const results = await Promise.all(Array.from({ length: 12 }, fetch));
      const expected = sha256(await fs.readFile(path.join(root, 'small.bin')));
      for (const [i, result] of results.entries()) {
        assert.equal(result.code, 0, result.output);
        assert.equal(sha256(await fs.readFile(path.join(work, `storm-${i}.bin`))), expected);
      }
      assert.equal(server.cacheLoads, 1);
      assert.equal(server.cacheHits, 11);
      await waitUntil(() => events.length === 12);
    } finally {
      await server.stop();
    }
  });

  test("the iPXE binaries of Debian's ipxe package, under a boot directory", { skip: needsHpa || needsIpxe }, async () => {
    const { server, event } = await startServer({ roots: [root, IPXE_DIR], allowedOutsideFiles: ['/boot/ipxe.efi'] });
    try {
      for (const name of ['undionly.kpxe', 'ipxe.efi']) {
        const result = await hpaGet(server.port, name, name);
        assert.equal(result.code, 0, result.output);
        assert.deepEqual(await fs.readFile(path.join(work, name)), await fs.readFile(path.join(IPXE_DIR, name)));
        assert.equal((await event()).outcome, 'sent');
      }
    } finally {
      await server.stop();
    }
    // ipxe.efi is a symlink to /boot/ipxe.efi: without the allowance it is outside the root.
    const strict = await startServer({ roots: [IPXE_DIR] });
    try {
      const result = await hpaGet(strict.server.port, 'ipxe.efi', 'ipxe-strict.efi');
      assert.match(result.output, /Error code 2/);
      assert.equal((await strict.event()).reason, 'real path outside its root');
    } finally {
      await strict.server.stop();
    }
  });
});

async function waitUntil(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Requests a name and returns the ERROR it gets. */
async function errorFor(server: TftpServer, filename: string): Promise<{ code: number; message: string }> {
  const client = await RawClient.open();
  try {
    client.rrq(server.port, filename);
    const { packet } = await client.expect();
    assert.equal(packet.kind, 'error', `${filename}: ${JSON.stringify(packet)}`);
    assert.ok(packet.kind === 'error');
    return { code: packet.code, message: packet.message };
  } finally {
    await client.close();
  }
}

async function contentFor(server: TftpServer, filename: string): Promise<Buffer> {
  const client = await RawClient.open();
  try {
    return (await download(client, server.port, filename)).content;
  } finally {
    await client.close();
  }
}

describe('TFTP server: names and confinement', () => {
  test('parent segments are refused with ERROR 2', async () => {
    const { server, event } = await startServer();
    try {
      for (const name of ['../outside/secret', 'sub/../../outside/secret', '..\\outside\\secret']) {
        assert.equal((await errorFor(server, name)).code, 2, name);
        assert.equal((await event()).outcome, 'refused');
      }
    } finally {
      await server.stop();
    }
  });

  test('symlinks out of the root are refused, unless the target is an allowed file', async () => {
    const strict = await startServer();
    try {
      assert.deepEqual(await errorFor(strict.server, 'escape'), { code: 2, message: 'access violation' });
      assert.deepEqual(await errorFor(strict.server, 'escape-dir/secret'), { code: 2, message: 'access violation' });
      assert.equal((await strict.event(1)).reason, 'real path outside its root');
    } finally {
      await strict.server.stop();
    }
    const allowing = await startServer({ allowedOutsideFiles: [path.join(outside, 'secret')] });
    try {
      assert.equal((await contentFor(allowing.server, 'escape')).toString(), 'secret');
    } finally {
      await allowing.server.stop();
    }
  });

  test('a directory is not sent', async () => {
    const { server } = await startServer();
    try {
      assert.deepEqual(await errorFor(server, 'sub'), { code: 2, message: 'not a regular file' });
    } finally {
      await server.stop();
    }
  });

  test('absolute names: / is the root, and an absolute path inside the root is found', async () => {
    const { server } = await startServer();
    try {
      const expected = await fs.readFile(path.join(root, 'small.bin'));
      assert.deepEqual(await contentFor(server, '/small.bin'), expected);
      assert.deepEqual(await contentFor(server, path.join(root, 'small.bin')), expected);
      assert.equal((await errorFor(server, '/etc/hostname')).code, 1, 'a path outside is looked up under the root');
    } finally {
      await server.stop();
    }
  });

  test('layered roots: the first that has the name serves it', async () => {
    const { server } = await startServer({ roots: [root, lower] });
    try {
      assert.equal((await contentFor(server, 'shared.txt')).toString(), 'upper');
      assert.equal((await contentFor(server, 'only-lower.txt')).toString(), 'only in the lower root');
      const named = await contentFor(server, path.join(lower, 'shared.txt'));
      assert.equal(named.toString(), 'lower', 'an absolute path names its root');
    } finally {
      await server.stop();
    }
  });
});

// Each test has its own server and local files, so they run at once: the timeouts, the rollover and the clients
// then wait in parallel.
describe('TFTP server: protocol with a raw client', { concurrency: true }, () => {
  test('the OACK carries the real size for tsize', async () => {
    const { server } = await startServer();
    const client = await RawClient.open();
    try {
      client.rrq(server.port, 'large.bin', [{ name: 'tsize', value: '0' }, { name: 'blksize', value: '1468' }]);
      const { packet, port } = await client.expect();
      assert.deepEqual(packet, {
        kind: 'oack',
        options: [
          { name: 'tsize', value: String(LARGE) },
          { name: 'blksize', value: '1468' },
        ],
      });
      assert.notEqual(port, server.port, 'the transfer has its own port');
      client.send({ kind: 'error', code: 0, message: 'only wanted the size' }, port);
      await waitUntil(() => server.counters.errors['client-error'] === 1);
      assert.equal(server.activeTransfers, 0);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('a packet from another TID gets ERROR 5 and the transfer goes on', async () => {
    const { server, event } = await startServer();
    const client = await RawClient.open();
    const intruder = await RawClient.open();
    try {
      client.rrq(server.port, 'window.bin');
      const first = await client.expect();
      assert.equal(dataOf(first).block, 1);
      intruder.ack(first.port, 1);
      assert.deepEqual((await intruder.expect()).packet, { kind: 'error', code: 5, message: 'unknown transfer ID' });
      assert.equal(await client.next(200), null, 'the intruder moved nothing');
      for (let block = 1; ; block++) {
        client.ack(first.port, block);
        if (block === 11) break;
        assert.equal(dataOf(await client.expect()).block, block + 1);
      }
      assert.equal((await event()).outcome, 'sent');
      assert.equal(server.counters.errors['wrong-tid'], 1);
    } finally {
      await client.close();
      await intruder.close();
      await server.stop();
    }
  });

  test('malformed packets are counted and dropped, requests among them answered ERROR 4', async () => {
    const { server } = await startServer();
    const client = await RawClient.open();
    try {
      const junk = [
        Uint8Array.of(1), // shorter than an opcode
        Uint8Array.of(0, 99, 1, 2), // unknown opcode
        Uint8Array.of(0, 1, 0x61, 0x62), // an RRQ whose name never ends: answered
        Buffer.from('\x00\x01small.bin\x00mail\x00', 'latin1'), // the obsolete mode "mail": answered
      ];
      for (const packet of junk) client.send(packet, server.port);
      const answers = [await client.expect(), await client.expect()];
      for (const { packet } of answers) assert.equal(packet.kind === 'error' && packet.code, 4, JSON.stringify(packet));
      assert.equal(await client.next(200), null, 'only the two broken requests are answered');
      client.send({ kind: 'ack', block: 1 }, server.port);
      client.send({ kind: 'data', block: 1, data: new Uint8Array(3) }, server.port);
      await waitUntil(() => server.counters.errors['unexpected-packet'] === 2);
      assert.equal(server.counters.errors.malformed, 4);
      assert.equal(server.counters.requests, 0);

      // During a transfer: garbage from the client's own TID is dropped, the transfer still ends well.
      client.rrq(server.port, 'small.bin');
      const first = await client.expect();
      client.send(Uint8Array.of(0, 4, 0), first.port);
      client.send({ kind: 'rrq', filename: 'x', mode: 'octet', options: [] }, first.port);
      client.ack(first.port, 1);
      assert.equal(dataOf(await client.expect()).block, 2);
      client.ack(first.port, 2);
      await waitUntil(() => server.counters.transfersCompleted === 1);
      assert.equal(server.counters.errors.malformed, 5);
      assert.equal(server.counters.errors['unexpected-packet'], 3);
      assert.deepEqual(await contentFor(server, 'small.bin'), await fs.readFile(path.join(root, 'small.bin')));
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('random and mutated datagrams never crash the server and are each accounted for', async () => {
    const { server } = await startServer();
    const client = await RawClient.open();
    try {
      const request = Buffer.from('\x00\x01small.bin\x00octet\x00blksize\x001468\x00tsize\x000\x00', 'latin1');
      const mutated = fc.tuple(fc.nat(request.length - 1), fc.nat(255)).map(([at, byte]) => {
        const copy = Uint8Array.from(request);
        copy[at] = byte;
        return copy;
      });
      const datagrams = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated), { numRuns: 300, seed: 1350 });
      const accounted = () => {
        const { requests, errors } = server.counters;
        return requests + errors.malformed + errors['unexpected-packet'] + errors['duplicate-request'];
      };
      // In batches, so the kernel's receive buffer never overflows and every datagram reaches the server.
      for (let sent = 0; sent < datagrams.length; ) {
        for (const datagram of datagrams.slice(sent, sent + 25)) client.send(datagram, server.port);
        sent = Math.min(sent + 25, datagrams.length);
        await waitUntil(() => accounted() === sent);
      }
      assert.deepEqual(await contentFor(server, 'small.bin'), await fs.readFile(path.join(root, 'small.bin')));
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('a repeated RRQ does not start a second transfer', async () => {
    const { server } = await startServer();
    const client = await RawClient.open();
    try {
      client.rrq(server.port, 'small.bin');
      client.rrq(server.port, 'small.bin');
      const first = await client.expect();
      await waitUntil(() => server.counters.errors['duplicate-request'] === 1);
      assert.equal(server.counters.requests, 1);
      assert.equal(await client.next(200), null);
      client.send({ kind: 'error', code: 0, message: 'bye' }, first.port);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('a lost ACK is recovered by retransmission after the negotiated timeout', async () => {
    const { server, event } = await startServer();
    const client = await RawClient.open();
    try {
      client.rrq(server.port, 'small.bin', [{ name: 'timeout', value: '1' }]);
      const oack = await client.expect();
      client.ack(oack.port, 0);
      assert.equal(dataOf(await client.expect()).block, 1);
      // The client "loses" its ACK 1: the server sends block 1 again a second later.
      const started = Date.now();
      const again = await client.expect(3000);
      assert.equal(dataOf(again).block, 1);
      assert.ok(Date.now() - started >= 900, `resent after ${Date.now() - started} ms`);
      client.ack(oack.port, 1);
      assert.equal(dataOf(await client.expect()).block, 2);
      client.ack(oack.port, 2);
      assert.equal((await event()).outcome, 'sent');
      assert.equal(server.counters.retransmissions, 1);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('a silent client times out after the retries', async () => {
    const { server, event } = await startServer({ limits: { maxRetries: 1, defaultTimeoutSeconds: 1 } });
    const client = await RawClient.open();
    try {
      client.rrq(server.port, 'small.bin');
      assert.equal(dataOf(await client.expect()).block, 1);
      assert.equal(dataOf(await client.expect(3000)).block, 1);
      const timedOut = await event();
      assert.equal(timedOut.outcome, 'timeout');
      assert.equal(timedOut.bytes, 0);
      assert.ok(timedOut.durationMs >= 1900, `${timedOut.durationMs} ms`);
      assert.equal(server.counters.errors.timeout, 1);
      assert.equal(server.activeTransfers, 0);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('windowsize: a partial ACK rolls the window back to the block after it', async () => {
    const { server, event } = await startServer();
    const client = await RawClient.open();
    try {
      client.rrq(server.port, 'window.bin', [{ name: 'windowsize', value: '4' }]);
      const oack = await client.expect();
      assert.deepEqual(oack.packet, { kind: 'oack', options: [{ name: 'windowsize', value: '4' }] });
      const window = async () => {
        const blocks: number[] = [];
        while (blocks.length < 4) blocks.push(dataOf(await client.expect()).block);
        return blocks;
      };
      client.ack(oack.port, 0);
      assert.deepEqual(await window(), [1, 2, 3, 4]);
      client.ack(oack.port, 2);
      assert.deepEqual(await window(), [3, 4, 5, 6]);
      client.ack(oack.port, 6);
      assert.deepEqual(await window(), [7, 8, 9, 10]);
      client.ack(oack.port, 10);
      const last = dataOf(await client.expect());
      assert.deepEqual([last.block, last.data.length], [11, 100]);
      client.ack(oack.port, 11);
      assert.equal((await event()).bytes, 512 * 10 + 100);
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('block numbers roll over from 65535 to 0 on a file of more than 65535 blocks', async () => {
    // Large windows only to keep 65,600 round trips of 8 bytes fast.
    const { server, event } = await startServer({ limits: { maxWindowsize: 16 } });
    const client = await RawClient.open();
    try {
      const options = [{ name: 'blksize', value: '8' }, { name: 'windowsize', value: '16' }];
      const { content, blocks } = await download(client, server.port, 'rollover.bin', options);
      assert.equal(blocks.length, ROLLOVER / 8 + 1);
      assert.deepEqual(blocks.slice(65534, 65538), [65535, 0, 1, 2]);
      assert.equal(sha256(content), sha256(await fs.readFile(path.join(root, 'rollover.bin'))));
      assert.equal((await event()).outcome, 'sent');
    } finally {
      await client.close();
      await server.stop();
    }
  });

  test('atftp follows the block-number rollover past 65535 blocks', { skip: needsAtftp }, async () => {
    const { server, event } = await startServer();
    try {
      const options = ['blksize 8', 'windowsize 16'].flatMap((option) => ['--option', option]);
      const local = path.join(work, 'atftp-rollover.bin');
      const result = await run(ATFTP, [...options, '-g', '-r', 'rollover.bin', '-l', local, '127.0.0.1', String(server.port)]);
      assert.equal(result.code, 0, result.output);
      assert.equal(sha256(await fs.readFile(local)), sha256(await fs.readFile(path.join(root, 'rollover.bin'))));
      assert.equal((await event()).outcome, 'sent');
    } finally {
      await server.stop();
    }
  });

  test('beyond maxTransfers a request gets ERROR "server busy" at once', async () => {
    const { server, event } = await startServer({ limits: { maxTransfers: 1 } });
    const first = await RawClient.open();
    const second = await RawClient.open();
    try {
      first.rrq(server.port, 'small.bin');
      const running = await first.expect();
      second.rrq(server.port, 'small.bin');
      assert.deepEqual((await second.expect()).packet, { kind: 'error', code: 0, message: 'server busy' });
      const busy = await event();
      assert.equal(busy.outcome, 'busy');
      first.ack(running.port, 1);
      dataOf(await first.expect());
      first.ack(running.port, 2);
      assert.equal((await event()).outcome, 'sent');
      assert.deepEqual(await contentFor(server, 'small.bin'), await fs.readFile(path.join(root, 'small.bin')));
    } finally {
      await first.close();
      await second.close();
      await server.stop();
    }
  });

  test('stop() ends running transfers with an ERROR and closes everything', async () => {
    const { server, event } = await startServer();
    const client = await RawClient.open();
    try {
      client.rrq(server.port, 'large.bin');
      const running = await client.expect();
      await server.stop();
      assert.deepEqual((await client.expect()).packet, { kind: 'error', code: 0, message: 'server shutting down' });
      const stopped = await event();
      assert.equal(stopped.outcome, 'error');
      assert.equal(stopped.reason, 'server stopped');
      assert.equal(server.activeTransfers, 0);
      assert.equal(server.counters.errors.stopped, 1);
      client.ack(running.port, 1);
      client.rrq(server.port, 'small.bin');
      assert.equal(await client.next(300), null, 'both sockets are closed');
      await server.stop();
    } finally {
      await client.close();
    }
  });

  test('every request ends once, counted as completed or failed; a throwing handler is only logged', async () => {
    const logged: string[] = [];
    const { server, events } = await startServer({
      log: (message) => logged.push(message),
      onTransfer: () => {
        throw new Error('handler bug');
      },
    });
    try {
      await contentFor(server, 'small.bin');
      await errorFor(server, 'missing.bin');
      await errorFor(server, '../x');
      await waitUntil(() => events.length === 3);
      const { requests, transfersCompleted, transfersFailed } = server.counters;
      assert.deepEqual([requests, transfersCompleted, transfersFailed], [3, 1, 2]);
      assert.equal(logged.filter((message) => message === 'tftp onTransfer handler failed').length, 3);
    } finally {
      await server.stop();
    }
  });

  test('bad configuration fails start()', async () => {
    const start = (options: Partial<TftpServerOptions>) => TftpServer.start({ roots: [root], port: 0, address: '127.0.0.1', ...options });
    await assert.rejects(start({ roots: [path.join(base, 'missing')] }), /ENOENT/);
    await assert.rejects(start({ limits: { maxBlksize: 4 } }), RangeError);
    await assert.rejects(start({ limits: { maxTransfers: 0 } }), RangeError);
  });
});
