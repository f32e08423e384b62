import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createTestDatabase, type TestDatabase } from '../src/store/database-fixture.js';
import { freePort, HANGAR_BIN, hangar, startHangar, type RunningHangar } from './lab/hangar-process.js';

/**
 * The inventory commands (`devices list`, `ip next`, `ip whois`) as users run them: the bundled CLI against a
 * real `hangar serve` on a fresh SQLite store, authenticated by HANGAR_TOKEN.
 */

interface Result {
  status: number | null;
  stdout: string;
  stderr: string;
}

interface ApiObject {
  id: number;
  [field: string]: unknown;
}

/** Devices beyond one page of the API (1000), so `devices list` must follow `next`. */
const BULK_DEVICES = 1003;

describe('hangar devices / ip against hangar serve (SQLite)', () => {
  let database: TestDatabase;
  let server: RunningHangar;
  let token: string;

  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ ...process.env, HANGAR_URL: server.url, HANGAR_TOKEN: token, ...extra });

  function cli(args: string[], extraEnv: NodeJS.ProcessEnv = {}): Result {
    const result = spawnSync(process.execPath, [HANGAR_BIN, ...args], { env: env(extraEnv), encoding: 'utf8', timeout: 30_000, maxBuffer: 64 * 1024 * 1024 });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  }

  function cliAsync(args: string[]): Promise<Result> {
    return new Promise((resolve) => {
      execFile(process.execPath, [HANGAR_BIN, ...args], { env: env(), encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
        const code = error && typeof error.code === 'number' ? error.code : error ? null : 0;
        resolve({ status: code, stdout, stderr });
      });
    });
  }

  function ok(result: Result): string {
    assert.equal(result.status, 0, `exit ${result.status}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
    return result.stdout;
  }

  async function call(method: string, path: string, body?: unknown, bearer = token): Promise<ApiObject & ApiObject[]> {
    const response = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: `Token ${bearer}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    assert.ok(response.ok, `${method} ${path} -> ${response.status}: ${text}`);
    return JSON.parse(text) as ApiObject & ApiObject[];
  }
  const post = (path: string, body: unknown) => call('POST', path, body);
  const names = (json: string) => (JSON.parse(json) as Array<{ name: string }>).map((d) => d.name);
  const addressCount = async () => Number((await call('GET', '/api/ipam/ip-addresses/?limit=1')).count);

  before(async () => {
    database = await createTestDatabase('sqlite');
    const created = hangar(database.location, 'token', 'create', '--scope', 'admin');
    assert.equal(created.status, 0, created.stderr);
    token = created.stdout.trim();
    server = await startHangar(database.location);

    const acme = await post('/api/tenancy/tenants/', { name: 'Acme', slug: 'acme' });
    const prod = await post('/api/extras/tags/', { name: 'prod', slug: 'prod' });
    const ams = await post('/api/dcim/sites/', { name: 'Amsterdam 1', slug: 'ams1' });
    const fra = await post('/api/dcim/sites/', { name: 'Frankfurt 1', slug: 'fra1' });
    const lab = await post('/api/dcim/sites/', { name: 'Lab', slug: 'lab' });
    const maker = await post('/api/dcim/manufacturers/', { name: 'Supermicro', slug: 'supermicro' });
    const model = await post('/api/dcim/device-types/', { manufacturer: maker.id, model: 'SYS-1029P', slug: 'sys-1029p' });
    const web = await post('/api/dcim/device-roles/', { name: 'Web', slug: 'web' });
    const db = await post('/api/dcim/device-roles/', { name: 'Database', slug: 'db' });
    const device = (name: string, site: ApiObject, role: ApiObject, extra: Record<string, unknown> = {}) =>
      post('/api/dcim/devices/', { name, device_type: model.id, role: role.id, site: site.id, ...extra });
    const web01 = await device('web-01', ams, web, { tenant: acme.id, tags: [prod.id], serial: 'SMC-1' });
    await device('web-02', ams, web, { status: 'planned', serial: 'SMC-2' });
    await device('db-01', fra, db, { tenant: acme.id, serial: 'SMC-3', description: 'primary database' });
    const eth0 = await post('/api/dcim/interfaces/', { device: web01.id, name: 'eth0', mac_address: '52:54:00:12:34:56' });
    await post('/api/ipam/prefixes/', { prefix: '10.60.0.0/24', tenant: acme.id, site: ams.id });
    const ip = await post('/api/ipam/ip-addresses/', { address: '10.60.0.11/24', dns_name: 'web-01.example.net', assigned_object_type: 'dcim.interface', assigned_object_id: eth0.id });
    await call('PATCH', `/api/dcim/devices/${web01.id}/`, { primary_ip4: ip.id });
    await post('/api/ipam/prefixes/', { prefix: '10.50.0.0/29' });
    await post('/api/ipam/prefixes/', { prefix: '10.70.0.0/24' });
    await post('/api/ipam/prefixes/', { prefix: '2001:db8:5::/64' });
    await post('/api/ipam/ip-ranges/', { start_address: '10.80.0.10/24', end_address: '10.80.0.12/24' });
    await post(
      '/api/dcim/devices/',
      Array.from({ length: BULK_DEVICES }, (_, i) => ({ name: `node-${String(i).padStart(4, '0')}`, device_type: model.id, role: db.id, site: lab.id })),
    );
  });

  after(async () => {
    if (server) assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
    if (database) await database.drop();
  });

  test('devices list prints a table of name, status, site, role, tenant, primary IP and serial', () => {
    const out = ok(cli(['devices', 'list', '--site', 'ams1']));
    const lines = out.split('\n');
    const header = lines.find((line) => line.includes('NAME'));
    assert.ok(header, out);
    assert.match(header, /NAME\s*│\s*STATUS\s*│\s*SITE\s*│\s*ROLE\s*│\s*TENANT\s*│\s*PRIMARY IP\s*│\s*SERIAL/);
    assert.match(out, /web-01\s*│\s*active\s*│\s*Amsterdam 1\s*│\s*Web\s*│\s*Acme\s*│\s*10\.60\.0\.11\/24\s*│\s*SMC-1/);
    assert.match(out, /web-02\s*│\s*planned\s*│\s*Amsterdam 1\s*│\s*Web\s*│\s*-\s*│\s*-\s*│\s*SMC-2/);
    assert.doesNotMatch(out, /db-01/);
  });

  test('devices list --json prints the API objects', () => {
    const devices = JSON.parse(ok(cli(['devices', 'list', '--site', 'ams1', '--json']))) as Array<{ name: string; serial: string; tenant: { slug: string } | null }>;
    assert.deepEqual(devices.map((d) => d.name), ['web-01', 'web-02']);
    assert.equal(devices[0]?.tenant?.slug, 'acme');
    assert.equal(devices[1]?.serial, 'SMC-2');
  });

  test('devices list filters: site, role, tenant, tag, status, q, mac, serial, --filter, combined', () => {
    const list = (...args: string[]) => names(ok(cli(['devices', 'list', '--json', '--filter', 'name__nisw=node', ...args])));
    assert.deepEqual(list('--role', 'db'), ['db-01']);
    assert.deepEqual(list('--tenant', 'acme'), ['db-01', 'web-01']);
    assert.deepEqual(list('--tag', 'prod'), ['web-01']);
    assert.deepEqual(list('--tag', 'prod', '--tag', 'nonexistent'), []);
    assert.deepEqual(list('--status', 'planned'), ['web-02']);
    assert.deepEqual(list('--q', 'primary data'), ['db-01']);
    assert.deepEqual(list('--mac', '5254.0012.3456'), ['web-01']);
    assert.deepEqual(list('--serial', 'SMC-2'), ['web-02']);
    assert.deepEqual(list('--filter', 'name__isw=web'), ['web-01', 'web-02']);
    assert.deepEqual(list('--filter', 'name__isw=web', '--tenant', 'acme', '--site', 'ams1'), ['web-01']);
    assert.deepEqual(list('--filter', 'has_primary_ip=true'), ['web-01']);
  });

  test('devices list follows next pages beyond the server page; --limit stops early', () => {
    const all = names(ok(cli(['devices', 'list', '--site', 'lab', '--json'])));
    assert.equal(all.length, BULK_DEVICES);
    assert.equal(new Set(all).size, BULK_DEVICES);
    assert.equal(all[BULK_DEVICES - 1], `node-${String(BULK_DEVICES - 1).padStart(4, '0')}`);
    assert.deepEqual(names(ok(cli(['devices', 'list', '--site', 'lab', '--limit', '3', '--json']))), ['node-0000', 'node-0001', 'node-0002']);
    const table = ok(cli(['devices', 'list', '--filter', 'name=nobody']));
    assert.equal(table, '(none)\n');
  });

  test('an unknown filter or bad value fails with the server message naming it', () => {
    const unknown = cli(['devices', 'list', '--filter', 'colour=blue']);
    assert.equal(unknown.status, 1);
    assert.match(unknown.stderr, /query\.colour: unknown filter \(HTTP 400\)/);
    const bad = cli(['devices', 'list', '--status', 'sleeping']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /query\.status: 'sleeping' is not one of/);
    const malformed = cli(['devices', 'list', '--filter', 'nonsense']);
    assert.notEqual(malformed.status, 0);
    assert.match(malformed.stderr, /--filter: 'nonsense' is not key=value/);
  });

  test('without HANGAR_TOKEN, with a bad token, or with no server, the message says what is wrong', async () => {
    const missing = cli(['devices', 'list'], { HANGAR_TOKEN: '' });
    assert.notEqual(missing.status, 0);
    assert.match(missing.stderr, /HANGAR_TOKEN is not set/);
    const wrong = cli(['ip', 'whois', '10.60.0.11'], { HANGAR_TOKEN: 'not-a-token' });
    assert.equal(wrong.status, 1);
    assert.match(wrong.stderr, /\(HTTP 401\)/);
    const nowhere = `http://127.0.0.1:${await freePort()}`;
    const refused = cli(['devices', 'list'], { HANGAR_URL: nowhere });
    assert.equal(refused.status, 1);
    assert.equal(refused.stderr, `hangar: cannot reach Hangar at ${nowhere} (is \`hangar serve\` running?)\n`);
  });

  test('ip next allocates distinct addresses, prints one per line, records the fields; full is exit 1', async () => {
    const before = await addressCount();
    assert.equal(ok(cli(['ip', 'next', '10.50.0.0/29'])), '10.50.0.1/29\n');
    assert.equal(ok(cli(['ip', 'next', '10.50.0.0/29', '--count', '2', '--dns-name', 'spare.example.net', '--description', 'spares'])), '10.50.0.2/29\n10.50.0.3/29\n');
    const spares = await call('GET', '/api/ipam/ip-addresses/?parent=10.50.0.0/29&description=spares');
    assert.deepEqual(
      (spares.results as unknown as Array<{ address: string; dns_name: string }>).map((ip) => [ip.address, ip.dns_name]),
      [['10.50.0.2/29', 'spare.example.net'], ['10.50.0.3/29', 'spare.example.net']],
    );
    const json = JSON.parse(ok(cli(['ip', 'next', '10.50.0.0/29', '--status', 'reserved', '--json']))) as Array<{ address: string; status: { value: string } }>;
    assert.deepEqual(json.map((ip) => [ip.address, ip.status.value]), [['10.50.0.4/29', 'reserved']]);
    assert.equal(await addressCount(), before + 4);

    const tooMany = cli(['ip', 'next', '10.50.0.0/29', '--count', '3']);
    assert.equal(tooMany.status, 1);
    assert.match(tooMany.stderr, /prefix 10\.50\.0\.0\/29 has fewer than 3 free addresses; nothing was allocated/);
    assert.equal(await addressCount(), before + 4, 'all or none');
    ok(cli(['ip', 'next', '10.50.0.0/29', '--count', '2']));
    const full = cli(['ip', 'next', '10.50.0.0/29']);
    assert.equal(full.status, 1);
    assert.equal(full.stderr, 'hangar: prefix 10.50.0.0/29 is full\n');
    const fullDry = cli(['ip', 'next', '10.50.0.0/29', '--dry-run']);
    assert.equal(fullDry.status, 1);
    assert.match(fullDry.stderr, /prefix 10\.50\.0\.0\/29 is full/);
  });

  test('ip next --dry-run prints what would be allocated and writes nothing', async () => {
    const before = await addressCount();
    const audit = (await call('GET', '/api/audit/?limit=1')).count;
    assert.equal(ok(cli(['ip', 'next', '2001:db8:5::/64', '--count', '3', '--dry-run'])), '2001:db8:5::1/64\n2001:db8:5::2/64\n2001:db8:5::3/64\n');
    const json = JSON.parse(ok(cli(['ip', 'next', '2001:db8:5::/64', '--dry-run', '--json']))) as Array<{ address: string }>;
    assert.deepEqual(json.map((ip) => ip.address), ['2001:db8:5::1/64']);
    assert.equal(await addressCount(), before);
    assert.equal((await call('GET', '/api/audit/?limit=1')).count, audit);
    // The dry run showed exactly what the allocation then takes.
    assert.equal(ok(cli(['ip', 'next', '2001:DB8:5:0::/64'])), '2001:db8:5::1/64\n');
  });

  test('concurrent ip next processes each get a different address', async () => {
    const results = await Promise.all(Array.from({ length: 4 }, () => cliAsync(['ip', 'next', '10.70.0.0/24'])));
    const addresses = results.map((result) => ok(result).trim());
    assert.deepEqual([...addresses].sort(), ['10.70.0.1/24', '10.70.0.2/24', '10.70.0.3/24', '10.70.0.4/24'], 'four different addresses');
  });

  test('ip next from an IP range; an unknown prefix or range, or a prefix with host bits, fails clearly', () => {
    assert.equal(ok(cli(['ip', 'next', '10.80.0.10-10.80.0.12', '--count', '2'])), '10.80.0.10/24\n10.80.0.11/24\n');
    const unknown = cli(['ip', 'next', '10.9.0.0/24']);
    assert.equal(unknown.status, 1);
    assert.equal(unknown.stderr, 'hangar: no prefix 10.9.0.0/24\n');
    const noRange = cli(['ip', 'next', '10.80.0.10-10.80.0.20']);
    assert.equal(noRange.status, 1);
    assert.match(noRange.stderr, /no IP range 10\.80\.0\.10-10\.80\.0\.20/);
    const hostBits = cli(['ip', 'next', '10.50.0.1/29']);
    assert.notEqual(hostBits.status, 0);
    assert.match(hostBits.stderr, /host bits are set \(the network is 10\.50\.0\.0\/29\)/);
    const count = cli(['ip', 'next', '10.70.0.0/24', '--count', '0']);
    assert.notEqual(count.status, 0);
    assert.match(count.stderr, /--count: '0' is not an integer from 1 to 1000/);
  });

  test('ip whois names the prefix with its tenant, the ranges, and the device and interface of the address', () => {
    const out = ok(cli(['ip', 'whois', '10.60.0.11']));
    assert.match(out, /^address\s+10\.60\.0\.11$/m);
    assert.match(out, /^prefix\s+10\.60\.0\.0\/24 \(tenant Acme, site Amsterdam 1, active\)$/m);
    assert.match(out, /^ip ranges\s+-$/m);
    assert.match(out, /^ip address\s+10\.60\.0\.11\/24 \(active, dns web-01\.example\.net\) on device web-01 interface eth0$/m);

    const ranged = ok(cli(['ip', 'whois', '10.80.0.12']));
    assert.match(ranged, /^prefix\s+not in any prefix$/m);
    assert.match(ranged, /^ip ranges\s+10\.80\.0\.10\/24-10\.80\.0\.12$/m);
    assert.match(ranged, /^ip address\s+not allocated$/m);

    const json = JSON.parse(ok(cli(['ip', 'whois', '10.60.0.11', '--json']))) as {
      prefix: { prefix: string; tenant: { slug: string } };
      ip_address: { assigned_object: { name: string; device: { name: string } } };
    };
    assert.equal(json.prefix.prefix, '10.60.0.0/24');
    assert.equal(json.prefix.tenant.slug, 'acme');
    assert.equal(json.ip_address.assigned_object.name, 'eth0');
    assert.equal(json.ip_address.assigned_object.device.name, 'web-01');

    const bad = cli(['ip', 'whois', '10.60.0.300']);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /query\.address/);
  });

  test('a tenant-restricted token sees its tenant only, and its allocations are audited under its actor', async () => {
    const created = hangar(database.location, 'token', 'create', '--scope', 'write', '--tenant', 'acme', '--json');
    assert.equal(created.status, 0, created.stderr);
    const restricted = JSON.parse(created.stdout) as { token: string; id: number };
    const as = { HANGAR_TOKEN: restricted.token };
    assert.deepEqual(names(ok(cli(['devices', 'list', '--json'], as))), ['db-01', 'web-01']);
    const other = cli(['ip', 'next', '10.70.0.0/24'], as);
    assert.equal(other.status, 1);
    assert.equal(other.stderr, 'hangar: no prefix 10.70.0.0/24\n');
    assert.match(ok(cli(['ip', 'whois', '10.70.0.1'], as)), /^prefix\s+not in any prefix$/m);

    const address = ok(cli(['ip', 'next', '10.60.0.0/24', '--description', 'tenant allocation'], as)).trim();
    assert.equal(address, '10.60.0.1/24');
    assert.match(ok(cli(['ip', 'whois', '10.60.0.1'], as)), /^ip address\s+10\.60\.0\.1\/24 \(active, tenant Acme\), not assigned$/m);
    const [entry] = (await call('GET', '/api/audit/?object_type=ipam.ipaddress&limit=1')).results as unknown as Array<{ actor: string; action: string }>;
    assert.deepEqual(entry, { ...entry, actor: `token:${restricted.id}`, action: 'create' });
  });
});
