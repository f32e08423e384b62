/**
 * The legacy PXE path through `hangar serve --tftp`: Debian's tftp-hpa client fetches undionly.kpxe (from the ipxe
 * package) and a file of the site's boot directory, and each transfer is a boot event.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServices } from '../src/main.js';
import { startHangar, type RunningHangar } from './lab/hangar-process.js';

const skip = !existsSync('/usr/bin/tftp') ? 'needs tftp-hpa (scripts/install-test-deps)' : !existsSync('/usr/lib/ipxe/undionly.kpxe') ? 'needs ipxe' : false;

/** A free UDP port on loopback. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('TFTP from hangar serve --tftp', { skip }, () => {
  let dir = '';
  let port = 0;
  let server: RunningHangar | null = null;

  const tftpGet = (file: string, out: string) =>
    spawnSync('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', file, out], { encoding: 'utf8', timeout: 30_000 });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-boot-tftp-'));
    mkdirSync(join(dir, 'tftp'), { recursive: true });
    writeFileSync(join(dir, 'tftp', 'site.ipxe'), '#!ipxe\necho site boot file\n');
    port = await freeUdpPort();
    server = await startHangar({ dataDir: dir }, ['--tftp', `127.0.0.1:${port}`]);
  });

  after(async () => {
    if (server) assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('tftp-hpa fetches undionly.kpxe from the ipxe package, byte for byte, and a file of DATA/tftp', () => {
    const kpxe = tftpGet('undionly.kpxe', join(dir, 'undionly.out'));
    assert.equal(kpxe.status, 0, kpxe.stderr);
    assert.equal(sha256(readFileSync(join(dir, 'undionly.out'))), sha256(readFileSync('/usr/lib/ipxe/undionly.kpxe')));
    const site = tftpGet('site.ipxe', join(dir, 'site.out'));
    assert.equal(site.status, 0, site.stderr);
    assert.equal(readFileSync(join(dir, 'site.out'), 'utf8'), '#!ipxe\necho site boot file\n');
  });

  test('a missing file and a ../ escape are refused, and nothing outside the roots is read', () => {
    const missing = tftpGet('nothing.here', join(dir, 'missing.out'));
    assert.match(`${missing.stdout}${missing.stderr}`, /not found/i);
    const escape = tftpGet('../hangar.sqlite', join(dir, 'escape.out'));
    assert.match(`${escape.stdout}${escape.stderr}`, /Error code/i);
  });

  test('every transfer is a boot event with its outcome and bytes', async () => {
    const services = await openServices({ dataDir: dir });
    try {
      let events = await services.events.list({ type: 'boot.*', limit: 20 });
      for (let attempt = 0; attempt < 40 && events.length < 4; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        events = await services.events.list({ type: 'boot.*', limit: 20 });
      }
      const byFile = new Map(events.map((event) => [event.data.file, event]));
      assert.deepEqual(
        { type: byFile.get('undionly.kpxe')?.type, outcome: byFile.get('undionly.kpxe')?.data.outcome, bytes: byFile.get('undionly.kpxe')?.data.bytes },
        { type: 'boot.file', outcome: 'sent', bytes: readFileSync('/usr/lib/ipxe/undionly.kpxe').length },
      );
      assert.equal(byFile.get('nothing.here')?.data.outcome, 'not-found');
      assert.equal(byFile.get('../hangar.sqlite')?.type, 'boot.refused');
      assert.equal(byFile.get('undionly.kpxe')?.subject, '127.0.0.1');
    } finally {
      await services.store.close();
    }
  });
});
