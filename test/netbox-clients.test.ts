import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, type TestDatabase } from '../src/store/database-fixture.js';
import { hangar, startHangar, type RunningHangar } from './lab/hangar-process.js';

/**
 * Unmodified NetBox clients against a real `hangar serve`: Debian's pynetbox drives the API through
 * test/netbox/pynetbox_roundtrip.py, and Ansible's netbox.netbox.nb_inventory builds an inventory from it.
 * The clients are required: a machine without them fails this file instead of skipping it.
 */

// Debian's interpreter: python3-pynetbox and Ansible live there, whatever `python3` on PATH is (pyenv has neither).
const PYTHON = '/usr/bin/python3';
const CLIENT_TIMEOUT_MS = 180_000;
const NETBOX_DIR = fileURLToPath(new URL('../../test/netbox/', import.meta.url));

function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, {
    encoding: 'utf8',
    timeout: CLIENT_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
}

function describeRun(result: SpawnSyncReturns<string>): string {
  const how = result.error ? `error ${result.error.message}` : `exit ${result.status} signal ${result.signal}`;
  return `${how}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}

interface NetboxObject {
  id: number;
  [field: string]: unknown;
}

/** One call to Hangar's NetBox API with an admin token; fails the test on any status but `expected`. */
async function call(server: RunningHangar, token: string, method: string, path: string, body?: unknown, expected = 201): Promise<NetboxObject> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Token ${token}`, 'content-type': 'application/json', accept: 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  assert.equal(response.status, expected, `${method} ${path} ${JSON.stringify(body)} -> ${response.status}: ${text}`);
  return JSON.parse(text) as NetboxObject;
}

interface Inventory {
  _meta: { hostvars: Record<string, Record<string, unknown>> };
  [group: string]: { hosts?: string[]; children?: string[] } | Inventory['_meta'];
}

function hostsOf(inventory: Inventory, group: string): string[] {
  const entry = inventory[group] as { hosts?: string[] } | undefined;
  return [...(entry?.hosts ?? [])].sort();
}

describe('NetBox clients against hangar serve (SQLite)', () => {
  let database: TestDatabase;
  let server: RunningHangar;
  let token: string;
  let scratch: string;

  before(async () => {
    database = await createTestDatabase('sqlite');
    scratch = mkdtempSync(join(tmpdir(), 'hangar-netbox-clients-'));
    const created = hangar(database.location, 'token', 'create', '--scope', 'admin');
    assert.equal(created.status, 0, created.stderr);
    token = created.stdout.trim();
    server = await startHangar(database.location);
  });

  after(async () => {
    if (server) assert.equal(await server.stop('SIGTERM'), 0, server.stderr());
    if (database) await database.drop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  test('the clients are installed: Debian python3-pynetbox, ansible with netbox.netbox, python3-tz', () => {
    const python = run(PYTHON, ['-c', 'import pynetbox, pytz, ansible_collections.netbox.netbox.plugins.inventory.nb_inventory']);
    assert.equal(python.status, 0, `install ansible, python3-pynetbox and python3-tz (Debian): ${describeRun(python)}`);
    const ansible = run('ansible-inventory', ['--version'], { env: ansibleEnv(scratch) });
    assert.equal(ansible.status, 0, `install ansible (Debian): ${describeRun(ansible)}`);
  });

  test('pynetbox: create, allocate, filter, update and delete through the NetBox API', () => {
    const result = run(PYTHON, [join(NETBOX_DIR, 'pynetbox_roundtrip.py')], {
      // requests honours *_PROXY variables; the server is on loopback.
      env: { ...process.env, HANGAR_URL: server.url, HANGAR_TOKEN: token, NO_PROXY: '127.0.0.1', no_proxy: '127.0.0.1', PYTHONDONTWRITEBYTECODE: '1' },
    });
    assert.equal(result.status, 0, describeRun(result));
    assert.match(result.stdout, /^pynetbox \S+ against NetBox \S+: all \d+ steps passed$/m, describeRun(result));
  });

  /** The fleet both inventory runs read, created once through the API. */
  let seeded: Promise<Record<string, string>> | undefined;
  const seed = () => (seeded ??= seedFleet(server, token));

  /** Runs ansible-inventory --list on `config`; -vvv prints each URL the plugin fetches, so failures name the endpoint. */
  function inventoryFrom(config: string, name: string): { inventory: Inventory; context: string } {
    const inventoryFile = join(scratch, `${name}.netbox.yml`);
    writeFileSync(inventoryFile, config);
    const outputFile = join(scratch, `${name}.json`);
    const result = run('ansible-inventory', ['-i', inventoryFile, '--list', '--output', outputFile, '-vvv'], { env: ansibleEnv(scratch), cwd: scratch });
    assert.equal(result.status, 0, describeRun(result));
    const inventory = JSON.parse(readFileSync(outputFile, 'utf8')) as Inventory;
    return { inventory, context: `${JSON.stringify(inventory, null, 1)}\n${describeRun(result)}` };
  }

  function template(): string {
    return readFileSync(join(NETBOX_DIR, 'inventory.netbox.yml'), 'utf8').replaceAll('@HANGAR_URL@', server.url).replaceAll('@HANGAR_TOKEN@', token);
  }

  test('ansible-inventory: devices grouped by site, role, tenant and status, ansible_host from primary IPv4', async () => {
    const addresses = await seed();
    const { inventory, context } = inventoryFrom(template(), 'minimal');

    assert.deepEqual(hostsOf(inventory, 'sites_ams1'), ['web-01', 'web-02'], context);
    assert.deepEqual(hostsOf(inventory, 'sites_fra1'), ['db-01'], context);
    assert.deepEqual(hostsOf(inventory, 'device_roles_web'), ['web-01', 'web-02'], context);
    assert.deepEqual(hostsOf(inventory, 'device_roles_db'), ['db-01'], context);
    assert.deepEqual(hostsOf(inventory, 'tenants_acme'), ['db-01', 'web-01'], context);
    assert.deepEqual(hostsOf(inventory, 'status_planned'), ['web-02'], context);
    assert.ok(hostsOf(inventory, 'status_active').includes('web-01'), context);

    const vars = inventory._meta.hostvars;
    const web01 = vars['web-01'] ?? {};
    assert.equal(web01.ansible_host, addresses['web-01'], context);
    assert.equal(web01.primary_ip4, addresses['web-01'], context);
    assert.deepEqual(web01.sites, ['ams1'], context);
    assert.deepEqual(web01.device_roles, ['web'], context);
    assert.deepEqual(web01.tenants, ['acme'], context);
    assert.deepEqual(web01.device_types, ['sys-1029p'], context);
    assert.deepEqual(web01.manufacturers, ['supermicro'], context);
    assert.deepEqual(web01.tags, ['prod'], context);
    assert.deepEqual(web01.status, { value: 'active', label: 'Active' }, context);
    assert.equal(web01.serial, 'SMC-1', context);
    assert.equal(web01.is_virtual, false, context);
    assert.equal(vars['db-01']?.ansible_host, addresses['db-01'], context);
    assert.equal(vars['web-02']?.ansible_host, undefined, `a device without a primary IP has no ansible_host\n${context}`);
  });

  test('ansible-inventory with the plugin defaults (services, racks) plus interfaces and a device query filter', async () => {
    const addresses = await seed();
    let config = template();
    for (const option of ['interfaces', 'services', 'racks']) {
      assert.ok(config.includes(`\n${option}: false\n`), `the template sets ${option}: false`);
      config = config.replace(`\n${option}: false\n`, `\n${option}: true\n`);
    }
    // Checked against the filter names in /api/schema/: a name missing there is dropped with a warning.
    config += 'device_query_filters:\n  - has_primary_ip: "true"\n';
    const { inventory, context } = inventoryFrom(config, 'full');

    const vars = inventory._meta.hostvars;
    assert.ok('web-01' in vars && 'db-01' in vars, context);
    assert.ok(!('web-02' in vars), `has_primary_ip=true leaves out web-02\n${context}`);
    const interfaces = (vars['web-01']?.interfaces ?? []) as Array<Record<string, unknown>>;
    assert.equal(interfaces.length, 1, context);
    const eth0 = interfaces[0] ?? {};
    assert.equal(eth0.name, 'eth0', context);
    assert.equal(eth0.mac_address, 'AA:BB:CC:00:00:01', context);
    const ips = (eth0.ip_addresses ?? []) as Array<Record<string, unknown>>;
    assert.deepEqual(ips.map((ip) => ip.address), [`${addresses['web-01']}/24`], context);
    assert.equal(vars['web-01']?.ansible_host, addresses['web-01'], context);
  });
});

/** Sites, roles, a tenant and three devices (two with a primary IPv4 on eth0); returns host -> address. */
async function seedFleet(server: RunningHangar, token: string): Promise<Record<string, string>> {
  const post = (path: string, body: unknown) => call(server, token, 'POST', path, body);
  const tenant = await post('/api/tenancy/tenants/', { name: 'Acme', slug: 'acme' });
  const tag = await post('/api/extras/tags/', { name: 'prod', slug: 'prod' });
  const ams = await post('/api/dcim/sites/', { name: 'Amsterdam 1', slug: 'ams1' });
  const fra = await post('/api/dcim/sites/', { name: 'Frankfurt 1', slug: 'fra1' });
  const maker = await post('/api/dcim/manufacturers/', { name: 'Supermicro', slug: 'supermicro' });
  const model = await post('/api/dcim/device-types/', { manufacturer: maker.id, model: 'SYS-1029P', slug: 'sys-1029p' });
  const web = await post('/api/dcim/device-roles/', { name: 'Web', slug: 'web', color: 'ff0000' });
  const db = await post('/api/dcim/device-roles/', { name: 'Database', slug: 'db', color: '00ff00' });
  const device = (name: string, site: NetboxObject, role: NetboxObject, extra: Record<string, unknown> = {}) =>
    post('/api/dcim/devices/', { name, device_type: model.id, role: role.id, site: site.id, ...extra });
  const web01 = await device('web-01', ams, web, { tenant: tenant.id, tags: [tag.id], serial: 'SMC-1' });
  await device('web-02', ams, web, { status: 'planned' });
  const db01 = await device('db-01', fra, db, { tenant: tenant.id });
  const addresses: Record<string, string> = {};
  const plan = [
    [web01, '10.78.0.11/24', 'aa:bb:cc:00:00:01'],
    [db01, '10.78.0.21/24', 'aa:bb:cc:00:00:02'],
  ] as const;
  for (const [host, address, mac] of plan) {
    const eth0 = await post('/api/dcim/interfaces/', { device: host.id, name: 'eth0', type: '1000base-t', mac_address: mac });
    const ip = await post('/api/ipam/ip-addresses/', { address, assigned_object_type: 'dcim.interface', assigned_object_id: eth0.id });
    await call(server, token, 'PATCH', `/api/dcim/devices/${host.id}/`, { primary_ip4: ip.id }, 200);
    addresses[String(host.name)] = address.split('/')[0] ?? '';
  }
  return addresses;
}

/** Ansible writes nothing under ~ and reads no ansible.cfg but an empty one of ours; the Debian collection is used. */
function ansibleEnv(scratch: string): NodeJS.ProcessEnv {
  const home = join(scratch, 'home');
  mkdirSync(join(home, 'tmp'), { recursive: true });
  const config = join(scratch, 'ansible.cfg');
  writeFileSync(config, '');
  return {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    ANSIBLE_CONFIG: config,
    ANSIBLE_HOME: home,
    ANSIBLE_LOCAL_TEMP: join(home, 'tmp'),
    ANSIBLE_COLLECTIONS_PATH: join(home, 'collections'),
    ANSIBLE_INVENTORY_ENABLED: 'netbox.netbox.nb_inventory',
    ANSIBLE_INVENTORY_CACHE: 'False',
    ANSIBLE_INVENTORY_UNPARSED_FAILED: 'True',
    ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED: 'True',
    ANSIBLE_NOCOLOR: '1',
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    PYTHONDONTWRITEBYTECODE: '1',
  };
}
