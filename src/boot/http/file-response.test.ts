import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { entityTag, hashFile, parseRange, serveFile, type ServedFile, type TransferResult } from './file-response.js';

const SIZE = 3 * 1024 * 1024 + 123;
let directory: string;
let content: Buffer;
let file: ServedFile;
let server: Server;
let base: string;
/** Which file the next request gets, and the reports of finished requests in order. */
let serving: () => ServedFile;
const reports: TransferResult[] = [];
/** Node warns when it closes a forgotten FileHandle on garbage collection: that would be a leak. */
const closedByGc: string[] = [];
process.on('warning', (warning) => {
  if (/garbage collection/i.test(warning.message)) closedByGc.push(warning.message);
});

function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Bytes this process has read through read(2) and friends so far. */
function bytesRead(): number {
  return Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);
}

/** Whether this process holds `path` open, from the links in /proc/self/fd. */
function isOpen(path: string): boolean {
  return readdirSync('/proc/self/fd').some((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false; // The fd closed between listing and reading.
    }
  });
}

/** The next onDone report, waiting for it if the response is still closing. */
async function nextReport(): Promise<TransferResult> {
  for (let waited = 0; reports.length === 0; waited += 5) {
    assert.ok(waited < 5000, 'no onDone report');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return reports.shift()!;
}

async function get(headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; headers: Headers; body: Buffer; report: TransferResult }> {
  const response = await fetch(`${base}/image`, { method, headers });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, headers: response.headers, body, report: await nextReport() };
}

before(async () => {
  directory = mkdtempSync(join(tmpdir(), 'hangar-file-response-'));
  content = randomBytes(SIZE);
  const path = join(directory, 'image.squashfs');
  writeFileSync(path, content);
  const stats = statSync(path);
  file = { path, size: stats.size, mtimeMs: stats.mtimeMs, sha256: sha256(content) };
  serving = () => file;
  server = createServer((request, response) => serveFile(request, response, serving(), (result) => reports.push(result)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  rmSync(directory, { recursive: true, force: true });
});

describe('serveFile', () => {
  test('a full GET sends the exact bytes with validators and reports them', async () => {
    const { status, headers, body, report } = await get();
    assert.equal(status, 200);
    assert.equal(sha256(body), file.sha256);
    assert.equal(headers.get('content-length'), String(SIZE));
    assert.equal(headers.get('content-type'), 'application/octet-stream');
    assert.equal(headers.get('accept-ranges'), 'bytes');
    assert.equal(headers.get('etag'), `"sha256-${file.sha256}"`);
    assert.equal(headers.get('last-modified'), new Date(Math.floor(file.mtimeMs / 1000) * 1000).toUTCString());
    assert.equal(report.status, 200);
    assert.equal(report.bytes, SIZE);
    assert.equal(report.aborted, false);
    assert.ok(report.durationMs >= 0);
  });

  test('HEAD sends the headers of a GET and no body', async () => {
    const { status, headers, body, report } = await get({}, 'HEAD');
    assert.equal(status, 200);
    assert.equal(headers.get('content-length'), String(SIZE));
    assert.equal(body.length, 0);
    assert.deepEqual([report.status, report.bytes, report.aborted], [200, 0, false]);
  });

  test('each single-range form gets 206 with its slice and Content-Range', async () => {
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=1000-', 1000, SIZE - 1],
      ['bytes=-500', SIZE - 500, SIZE - 1],
      [`bytes=${SIZE - 10}-${SIZE + 1000}`, SIZE - 10, SIZE - 1],
      [`bytes=-${SIZE * 2}`, 0, SIZE - 1],
      ['Bytes = 5-5', 5, 5],
    ];
    for (const [range, start, end] of cases) {
      const { status, headers, body, report } = await get({ range });
      assert.equal(status, 206, range);
      assert.equal(headers.get('content-range'), `bytes ${start}-${end}/${SIZE}`, range);
      assert.equal(headers.get('content-length'), String(end - start + 1), range);
      assert.ok(body.equals(content.subarray(start, end + 1)), range);
      assert.deepEqual([report.status, report.bytes], [206, end - start + 1], range);
    }
  });

  test('a range past the end gets 416 with the size', async () => {
    for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 5}-${SIZE + 9}`, 'bytes=-0']) {
      const { status, headers } = await get({ range });
      assert.equal(status, 416, range);
      assert.equal(headers.get('content-range'), `bytes */${SIZE}`, range);
    }
  });

  test('several ranges, or a Range that does not parse, get the whole file', async () => {
    for (const range of ['bytes=0-1,5-9', 'bytes=9-5', 'bytes=abc', 'items=0-5', 'bytes=', 'bytes=-']) {
      const { status, body } = await get({ range });
      assert.equal(status, 200, range);
      assert.equal(body.length, SIZE, range);
    }
  });

  test('If-None-Match and If-Modified-Since answer 304 when the client has the file', async () => {
    const tag = `"sha256-${file.sha256}"`;
    const conditions: Record<string, string>[] = [
      { 'if-none-match': tag },
      { 'if-none-match': `"other", W/${tag}` },
      { 'if-none-match': '*' },
      { 'if-modified-since': new Date(file.mtimeMs + 60_000).toUTCString() },
    ];
    for (const headers of conditions) {
      const { status, headers: answer, body, report } = await get(headers);
      assert.equal(status, 304, JSON.stringify(headers));
      assert.equal(answer.get('etag'), tag);
      assert.equal(body.length, 0);
      assert.deepEqual([report.status, report.bytes], [304, 0]);
    }
    // If-None-Match wins over If-Modified-Since (RFC 9110 section 13.2.2).
    const stale = await get({ 'if-none-match': '"other"', 'if-modified-since': new Date(file.mtimeMs + 60_000).toUTCString() });
    assert.equal(stale.status, 200);
    const older = await get({ 'if-modified-since': new Date(file.mtimeMs - 60_000).toUTCString() });
    assert.equal(older.status, 200);
  });

  test('If-Range honours the range only for the current ETag or Last-Modified', async () => {
    const tag = `"sha256-${file.sha256}"`;
    const modified = new Date(Math.floor(file.mtimeMs / 1000) * 1000).toUTCString();
    assert.equal((await get({ range: 'bytes=0-9', 'if-range': tag })).status, 206);
    assert.equal((await get({ range: 'bytes=0-9', 'if-range': modified })).status, 206);
    assert.equal((await get({ range: 'bytes=0-9', 'if-range': '"sha256-0000"' })).status, 200);
    assert.equal((await get({ range: 'bytes=0-9', 'if-range': `W/${tag}` })).status, 200, 'a weak tag never matches');
    assert.equal((await get({ range: 'bytes=0-9', 'if-range': new Date(file.mtimeMs - 5000).toUTCString() })).status, 200);
  });

  test('without a known hash the ETag comes from size and mtime', async () => {
    serving = () => ({ ...file, sha256: undefined });
    try {
      const { headers } = await get({}, 'HEAD');
      assert.equal(headers.get('etag'), `"${SIZE.toString(16)}-${Math.trunc(file.mtimeMs).toString(16)}"`);
      assert.equal(headers.get('etag'), entityTag({ ...file, sha256: undefined }));
    } finally {
      serving = () => file;
    }
  });

  test('a missing file is 404, a file changed since registration 500, and other methods 405', async () => {
    serving = () => ({ ...file, path: join(directory, 'missing') });
    try {
      assert.equal((await get()).status, 404);
      serving = () => ({ ...file, size: SIZE + 1 });
      assert.equal((await get()).status, 500);
      serving = () => ({ ...file, mtimeMs: file.mtimeMs - 10_000 });
      assert.equal((await get()).status, 500);
    } finally {
      serving = () => file;
    }
    const post = await get({}, 'POST');
    assert.equal(post.status, 405);
  });

  test('a client abort mid-transfer is reported and closes the file', async () => {
    // Large and sparse, so the transfer is still reading the file when the client leaves.
    const path = join(directory, 'large.squashfs');
    writeFileSync(path, '');
    truncateSync(path, 512 * 1024 * 1024);
    const stats = statSync(path);
    serving = () => ({ path, size: stats.size, mtimeMs: stats.mtimeMs });
    const baseline = openFds();
    let readAtAbort = 0;
    try {
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write('GET /image HTTP/1.1\r\nHost: x\r\n\r\n'));
        let count = 0;
        socket.on('data', (chunk: Buffer) => {
          count += chunk.length;
          if (count > 256 * 1024 && !socket.destroyed) {
            assert.ok(isOpen(path), 'the file is open while it is being sent');
            readAtAbort = bytesRead();
            socket.destroy();
            resolve();
          }
        });
        socket.on('error', reject);
      });
      const report = await nextReport();
      assert.equal(report.aborted, true);
      assert.equal(report.status, 200);
      assert.ok(report.bytes < stats.size, `reported ${report.bytes} bytes`);
      for (let waited = 0; isOpen(path) || openFds() > baseline; waited += 10) {
        assert.ok(waited < 1000, `file still open: ${isOpen(path)}; fds: ${openFds()} open, ${baseline} before`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      const readAfter = bytesRead() - readAtAbort;
      assert.ok(readAfter < 32 * 1024 * 1024, `${readAfter} bytes read after the abort: the file kept streaming`);
      assert.deepEqual(closedByGc, [], 'the fd was closed by the garbage collector, not by serveFile');
    } finally {
      serving = () => file;
    }
  });

  test('an abort before the headers are sent is reported once', async () => {
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('GET /image HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.destroy();
    });
    const report = await nextReport();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(reports.length, 0, 'reported once');
    assert.ok(report.bytes < SIZE);
  });

  test('20 parallel downloads all get the exact bytes', async () => {
    const bodies = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/image`).then((r) => r.arrayBuffer())));
    for (const body of bodies) assert.equal(sha256(Buffer.from(body)), file.sha256);
    const done = await Promise.all(bodies.map(() => nextReport()));
    assert.ok(done.every((report) => report.status === 200 && report.bytes === SIZE && !report.aborted));
  });
});

describe('hashFile', () => {
  test('streams the size and SHA-256 of a file', async () => {
    assert.deepEqual(await hashFile(file.path), { size: SIZE, sha256: file.sha256 });
    const empty = join(directory, 'empty');
    writeFileSync(empty, '');
    assert.deepEqual(await hashFile(empty), { size: 0, sha256: sha256(Buffer.alloc(0)) });
  });
});

describe('parseRange', () => {
  test('every satisfiable answer lies inside the file and matches the request', () => {
    fc.assert(
      fc.property(fc.nat(10_000), fc.option(fc.nat(20_000), { nil: undefined }), fc.option(fc.nat(20_000), { nil: undefined }), (size, first, last) => {
        const header = `bytes=${first ?? ''}-${last ?? ''}`;
        const range = parseRange(header, size);
        if (typeof range === 'string') {
          if (range === 'unsatisfiable') assert.ok(size === 0 || (first !== undefined ? first >= size : last === 0));
          else assert.ok((first === undefined && last === undefined) || (first !== undefined && last !== undefined && last < first));
          return;
        }
        assert.ok(range.start >= 0 && range.start <= range.end && range.end < size);
        if (first !== undefined) assert.equal(range.start, first);
        else assert.equal(range.end - range.start + 1, Math.min(size, last!));
      }),
      { numRuns: 2000 },
    );
  });
});
