/**
 * The image catalogue and mirrors through a real `hangar serve`: `hangar images add` registers files with their
 * checksums, bad uploads change nothing, registered files are served with their checksum as ETag, a site's
 * mirrors appear in each machine's own order, UEFI HTTP boot gets its loader, and a client that cannot retry by
 * itself waits in line for a transfer slot.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { orderMirrors } from '../src/boot/http/mirrors.js';
import { HANGAR_BIN, hangar, startHangar, type RunningHangar } from './lab/hangar-process.js';

type ApiObject = Record<string, unknown> & { id: number };

describe('image catalogue, mirrors and boot files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-images-'));
  const files = join(dir, 'upload');
  let server: RunningHangar;
  let token = '';
  const kernel = randomBytes(300_000);
  // Large enough that a reader who does not read holds its transfer open (loopback buffers take a few MB).
  const initrd = randomBytes(24_000_000);
  const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: ApiObject & { results?: ApiObject[]; detail?: string } }> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Token ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: response.status, json: (await response.json()) as ApiObject };
  }
  const upload = (versionId: number, role: string, data: Buffer, query = '') =>
    fetch(`${server.url}/api/boot/image-versions/${versionId}/files/${role}${query}`, {
      method: 'PUT',
      headers: { authorization: `Token ${token}`, 'content-type': 'application/octet-stream' },
      body: new Uint8Array(data),
    });
  function cli(...args: string[]) {
    return spawnSync(process.execPath, [HANGAR_BIN, ...args], { env: { ...process.env, HANGAR_URL: server.url, HANGAR_TOKEN: token }, encoding: 'utf8', timeout: 30_000 });
  }

  before(async () => {
    const created = hangar({ dataDir: dir }, 'token', 'create', '--scope', 'write');
    assert.equal(created.status, 0, created.stderr);
    token = created.stdout.trim();
    spawnSync('mkdir', ['-p', files, join(dir, 'tftp')]);
    writeFileSync(join(files, 'vmlinuz'), kernel);
    writeFileSync(join(files, 'initrd.img'), initrd);
    server = await startHangar({ dataDir: dir }, ['--max-image-transfers', '1']);
  });

  after(async () => {
    if (server) assert.equal(await server.stop(), 0, server.stderr());
    rmSync(dir, { recursive: true, force: true });
  });

  test('hangar images add creates the image and version and registers each file with its sha256', async () => {
    const added = cli('images', 'add', 'live', '1.0', '--kernel', join(files, 'vmlinuz'), '--initrd', join(files, 'initrd.img'), '--json');
    assert.equal(added.status, 0, added.stderr);
    const registered = JSON.parse(added.stdout) as Array<{ image_version: number; role: string; file: string; size: number; sha256: string }>;
    assert.deepEqual(registered, [
      { image_version: 1, role: 'kernel', file: 'vmlinuz', size: kernel.length, sha256: sha(kernel) },
      { image_version: 1, role: 'initrd', file: 'initrd.img', size: initrd.length, sha256: sha(initrd) },
    ]);
    const [version] = (await call('GET', '/api/boot/image-versions/?version=1.0')).json.results!;
    assert.equal(version!.kernel_sha256, sha(kernel));
    assert.equal(version!.initrd_size, initrd.length);
    assert.equal(version!.rootfs_size, null);
    assert.deepEqual(readFileSync(join(dir, 'images', 'live', '1.0', 'vmlinuz')), kernel);

    // The same files again change nothing; the audit log has one registration per file.
    assert.equal(cli('images', 'add', 'live', '1.0', '--kernel', join(files, 'vmlinuz'), '--initrd', join(files, 'initrd.img')).status, 0);
    const audit = spawnSync(process.execPath, [HANGAR_BIN, 'audit', 'verify'], { env: { ...process.env, HANGAR_DATA: dir }, encoding: 'utf8' });
    assert.equal(audit.status, 0, audit.stderr);
  });

  test('bad uploads are refused with the reason and leave nothing behind', async () => {
    const version = await call('POST', '/api/boot/image-versions/', { image: (await call('GET', '/api/boot/images/?name=live')).json.results![0]!.id, version: '2.0', kernel: 'vmlinuz', initrd: 'initrd.img' });
    assert.equal(version.status, 201, JSON.stringify(version.json));
    const id = version.json.id;

    const wrongSum = await upload(id, 'kernel', kernel, `?sha256=${sha(initrd)}`);
    assert.equal(wrongSum.status, 400);
    assert.match(((await wrongSum.json()) as { detail: string }).detail, /kernel: the upload's sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}; nothing was registered/);
    const malformed = await upload(id, 'kernel', kernel, '?sha256=xyz');
    assert.match(((await malformed.json()) as { detail: string }).detail, /sha256: 'xyz' is not 64 hexadecimal digits/);
    const empty = await upload(id, 'kernel', Buffer.alloc(0));
    assert.match(((await empty.json()) as { detail: string }).detail, /kernel: the upload is empty/);
    const noRootfs = await upload(id, 'rootfs', kernel);
    assert.match(((await noRootfs.json()) as { detail: string }).detail, /rootfs: image version \d+ names no rootfs file/);
    assert.equal((await upload(id, 'firmware', kernel)).status, 400);
    assert.equal(existsSync(join(dir, 'images', 'live', '2.0')), false, 'nothing was written for the version');
    assert.deepEqual(readdirSync(join(dir, 'images', '.incoming')), [], 'no partial upload is left');
    assert.equal((await call('GET', `/api/boot/image-versions/${id}/`)).json.kernel_size, null);

    // A registered file never changes: other bytes under the same name are refused, and so is renaming it.
    assert.equal((await upload(id, 'kernel', kernel)).status, 200);
    const replaced = await upload(id, 'kernel', initrd);
    assert.equal(replaced.status, 409);
    assert.match(((await replaced.json()) as { detail: string }).detail, /a registered file never changes, register a new version/);
    assert.deepEqual(readFileSync(join(dir, 'images', 'live', '2.0', 'vmlinuz')), kernel);
    const renamed = await call('PATCH', `/api/boot/image-versions/${id}/`, { kernel: 'vmlinuz-2' });
    assert.equal(renamed.status, 409);
    assert.match(renamed.json.detail!, /kernel: the kernel of this version is registered .* cannot be renamed/);
    const sizeField = await call('PATCH', `/api/boot/image-versions/${id}/`, { kernel_size: 1 });
    assert.equal(sizeField.status, 400);
    assert.match(sizeField.json.detail!, /kernel_size: read-only/);

    const cliMissing = cli('images', 'add', 'live', '3.0', '--kernel', join(files, 'nope'), '--initrd', join(files, 'initrd.img'));
    assert.equal(cliMissing.status, 2);
    assert.match(cliMissing.stderr, /--kernel: .*nope is not a file/);
    assert.equal((await call('GET', '/api/boot/image-versions/?version=3.0')).json.results!.length, 0, 'nothing was created');
  });

  test('registered files are served with Range and their checksum as ETag; undeclared files are not', async () => {
    const url = `${server.url}/boot/images/live/1.0/vmlinuz`;
    const whole = await fetch(url, { headers: { 'user-agent': 'iPXE/1.21.1' } });
    assert.equal(whole.status, 200);
    assert.equal(whole.headers.get('etag'), `"sha256-${sha(kernel)}"`);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), kernel);
    const part = await fetch(url, { headers: { range: 'bytes=100-199' } });
    assert.equal(part.status, 206);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), kernel.subarray(100, 200));
    writeFileSync(join(dir, 'images', 'live', '1.0', 'stray.bin'), 'not in the catalogue');
    assert.equal((await fetch(`${server.url}/boot/images/live/1.0/stray.bin`)).status, 404);
    assert.equal((await fetch(`${server.url}/boot/images/live/9.9/vmlinuz`)).status, 404);
  });

  test("a machine's script lists its site's enabled mirrors in its own rendezvous order", async () => {
    const site = (await call('POST', '/api/dcim/sites/', { name: 'Amsterdam', slug: 'ams1' })).json;
    const other = (await call('POST', '/api/dcim/sites/', { name: 'Frankfurt', slug: 'fra1' })).json;
    const mirrors = [
      { name: 'a', base_url: 'http://10.0.0.5:8080', weight: 100 },
      { name: 'b', base_url: 'http://10.0.0.6:8080/', weight: 100 },
      { name: 'c', base_url: 'http://10.0.0.7', weight: 50 },
    ];
    for (const mirror of mirrors) {
      const created = await call('POST', '/api/boot/mirrors/', { ...mirror, site: site.id });
      assert.equal(created.status, 201, JSON.stringify(created.json));
    }
    await call('POST', '/api/boot/mirrors/', { name: 'off', base_url: 'http://10.0.0.8', site: site.id, enabled: false });
    await call('POST', '/api/boot/mirrors/', { name: 'elsewhere', base_url: 'http://10.1.0.5', site: other.id });
    const bad = await call('POST', '/api/boot/mirrors/', { name: 'bad', base_url: 'ftp://10.0.0.9', site: site.id });
    assert.equal(bad.status, 400);
    assert.match(bad.json.detail!, /base_url/);

    const version = (await call('GET', '/api/boot/image-versions/?version=1.0')).json.results![0]!;
    const unsafe = await call('POST', '/api/boot/profiles/', { name: 'unsafe', image_version: version.id, kernel_args: 'console=ttyS0 || reboot' });
    assert.equal(unsafe.status, 400);
    assert.match(unsafe.json.detail!, /kernel_args: "\|\|" on its own ends an iPXE command/);
    const profile = (await call('POST', '/api/boot/profiles/', { name: 'live', image_version: version.id, kernel_args: 'console=ttyS0' })).json;
    const maker = (await call('POST', '/api/dcim/manufacturers/', { name: 'Acme', slug: 'acme' })).json;
    const model = (await call('POST', '/api/dcim/device-types/', { manufacturer: maker.id, model: 'm1', slug: 'm1' })).json;
    const role = (await call('POST', '/api/dcim/device-roles/', { name: 'Node', slug: 'node' })).json;
    for (let index = 0; index < 4; index++) {
      const mac = `52:54:00:aa:00:0${index}`;
      const device = (await call('POST', '/api/dcim/devices/', { name: `n${index}`, device_type: model.id, role: role.id, site: site.id, boot_profile: profile.id })).json;
      await call('POST', '/api/dcim/interfaces/', { device: device.id, name: 'eth0', mac_address: mac });
      const script = await (await fetch(`${server.url}/boot/ipxe/${mac}`)).text();
      const listed = [...script.matchAll(/^set base (\S+)$/gm)].map((match) => match[1]);
      const expected = orderMirrors(mac.toUpperCase(), mirrors.map((mirror) => ({ id: mirror.name, weight: mirror.weight, url: mirror.base_url.replace(/\/$/, '') }))).map((mirror) => mirror.url);
      assert.deepEqual([...new Set(listed)], expected, script);
    }
  });

  test('UEFI HTTP boot gets its loader from DATA/tftp or the iPXE package; nothing outside', async () => {
    writeFileSync(join(dir, 'tftp', 'site.efi'), 'site loader');
    const own = await fetch(`${server.url}/boot/files/site.efi`);
    assert.equal(own.status, 200);
    assert.equal(await own.text(), 'site loader');
    if (existsSync('/usr/lib/ipxe/snponly.efi')) {
      const ipxe = await fetch(`${server.url}/boot/files/snponly.efi`);
      assert.equal(ipxe.status, 200);
      assert.deepEqual(Buffer.from(await ipxe.arrayBuffer()), readFileSync('/usr/lib/ipxe/snponly.efi'));
    }
    assert.equal((await fetch(`${server.url}/boot/files/missing.efi`)).status, 404);
    assert.equal((await fetch(`${server.url}/boot/files/..%2F..%2Fetc%2Fpasswd`)).status, 400);
  });

  test('over the limit iPXE gets 503 with Retry-After while other clients wait in line', async () => {
    // Hold the one slot with a download whose reader does not read.
    const held = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${server.url}/boot/images/live/1.0/initrd.img`, { headers: { 'user-agent': 'iPXE/1.21.1' } }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(held.statusCode, 200);
    const status = async () => ((await (await fetch(`${server.url}/api/status/`)).json()) as { image_transfers: Record<string, number> }).image_transfers;
    assert.equal((await status()).in_flight, 1);

    const refused = await fetch(`${server.url}/boot/images/live/1.0/vmlinuz`, { headers: { 'user-agent': 'iPXE/1.21.1' } });
    assert.equal(refused.status, 503);
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
    await refused.arrayBuffer();

    const waiting = fetch(`${server.url}/boot/images/live/1.0/vmlinuz`, { headers: { 'user-agent': 'Wget/1.21' } });
    for (let tries = 0; (await status()).queued !== 1; tries++) {
      assert.ok(tries < 100, 'the wget-like client never queued');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    held.resume();
    const served = await waiting;
    assert.equal(served.status, 200);
    assert.deepEqual(Buffer.from(await served.arrayBuffer()), kernel);
    const after = await status();
    assert.deepEqual([after.limit, after.in_flight, after.peak, after.queued], [1, 0, 1, 0]);
    assert.ok((after.refused ?? 0) >= 1);
  });

  test('SIGTERM cuts a download whose client stalled, after the drain time, and exits 0', async () => {
    const stalled = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
      const req = request(`${server.url}/boot/images/live/1.0/initrd.img`, { headers: { 'user-agent': 'iPXE/1.21.1' } }, resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(stalled.statusCode, 200);
    // Without a bounded drain the server waited for this reader forever.
    assert.equal(await server.stop(), 0, server.stderr());
    stalled.destroy();
  });
});
