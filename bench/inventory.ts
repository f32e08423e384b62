import { loadavg } from 'node:os';
import { sql, type Kysely } from 'kysely';
import type { DynamicDatabase } from '../src/inventory/model.js';
import { openServices } from '../src/main.js';
import { createTestDatabase, testBackends } from '../src/store/database-fixture.js';
import type { Backend, Store } from '../src/store/store.js';
import { startHangar, type RunningHangar } from '../test/lab/hangar-process.js';

/**
 * The inventory at fleet scale: 100,000 devices, 200,000 interfaces and 1,000,000 IP addresses, written straight
 * into the tables, then read and allocated through a real `hangar serve` over HTTP on SQLite and on PostgreSQL.
 *
 * There is no NetBox on this machine to compare with (it is not packaged for Debian and PyPI is unreachable),
 * so the peer is the issue's targets: a list page answers within 150 ms at p99 and an allocation within 5 ms.
 * The ratio is the smallest target / p99 over every query on every backend: above 1, all targets are met.
 */

const DEVICES = 100_000;
const INTERFACES_PER_DEVICE = 2;
const INTERFACES = DEVICES * INTERFACES_PER_DEVICE;
const ADDRESSES = 1_000_000;
/** 10.0.0.0: the used addresses are 10.0.0.1 onwards, one contiguous run. */
const NET_10 = 0x0a00_0000;

const LIST_TARGET_MS = 150;
const ALLOCATION_TARGET_MS = 5;

const SITES = ['ams1', 'fra1'];
const ROLES = ['compute', 'storage', 'gpu', 'edge'];
const DEVICE_TYPES = ['r650', 'r750', 'sr650'];
const TAGS = ['prod', 'canary', 'pci', 'gdpr', 'burn-in'];
const TENANTS = ['acme', 'globex', 'initech'];

interface Query {
  name: string;
  label: string;
  targetMs: number;
  warmup: number;
  samples: number;
  /** The timed loop also stops after this long, whatever samples has reached. */
  capSeconds: number;
  /** The i-th request (warm-ups count too); `check` throws when the answer is wrong. */
  request(i: number): { method: 'GET' | 'POST'; path: string; body?: unknown; check(status: number, body: unknown): void };
}

interface Measured {
  query: Query;
  count: number;
  p50: number;
  p99: number;
  max: number;
}

interface BackendResult {
  backend: Backend;
  measured: Measured[];
}

/** Backend differences of the generating SQL: a series of integers 1..count as `n`, and hex formatting. */
interface Generator {
  insertSeries(table: string, row: Record<string, string>, count: number): string;
  /** 8 lower-case hex digits: core/net addressKey of an IPv4 address. */
  hex8(expr: string): string;
  /** 2 upper-case hex digits, one byte of a MAC address as Hangar stores them. */
  hex2(expr: string): string;
}

const generators: Record<Backend, Generator> = {
  sqlite: {
    insertSeries: (table, row, count) =>
      `with recursive g(n) as (select 1 union all select n + 1 from g where n < ${count}) ` +
      `insert into ${table} (${Object.keys(row).join(', ')}) select ${Object.values(row).join(', ')} from g`,
    hex8: (expr) => `printf('%08x', ${expr})`,
    hex2: (expr) => `printf('%02X', ${expr})`,
  },
  postgres: {
    insertSeries: (table, row, count) =>
      `insert into ${table} (${Object.keys(row).join(', ')}) select ${Object.values(row).join(', ')} from generate_series(1, ${count}) as g(n)`,
    hex8: (expr) => `lpad(to_hex(${expr}), 8, '0')`,
    hex2: (expr) => `lpad(upper(to_hex(${expr})), 2, '0')`,
  },
};

/** Deterministic choices, so every run asks the same questions. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(items: readonly T[], next: () => number): T {
  return items[Math.floor(next() * items.length)] as T;
}

function ipv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => (value >>> shift) & 255).join('.');
}

/** The MAC address of interface `id`, as the generating SQL writes it. */
function macOf(id: number): string {
  return ['02', '00', ...[24, 16, 8, 0].map((shift) => ((id >>> shift) & 255).toString(16).toUpperCase().padStart(2, '0'))].join(':');
}

/** Writes the whole inventory in one transaction: reference objects as rows, the bulk as INSERT ... SELECT. */
async function generate(store: Store): Promise<void> {
  const gen = generators[store.backend];
  const now = new Date().toISOString();
  const stamps = { created: now, last_updated: now };
  const object = { ...stamps, custom_fields: '{}' };
  const named = (names: readonly string[], extra: (i: number) => Record<string, unknown>) =>
    names.map((name, i) => ({ id: i + 1, name, slug: name, description: '', ...extra(i) }));
  const tagged = (tagExpr: string) =>
    gen.insertSeries('extras_tagged_items', { object_type: `'dcim.device'`, object_id: 'n', tag_id: tagExpr }, DEVICES);

  await store.transaction(async (tx) => {
    const db = tx.db as unknown as Kysely<DynamicDatabase>;
    const rows = (table: string, values: Array<Record<string, unknown>>) => db.insertInto(table).values(values).execute();
    await rows('tenancy_tenants', named(TENANTS, () => ({ comments: '', ...object })));
    // Tags carry timestamps but no custom fields.
    await rows('extras_tags', named(TAGS, (i) => ({ color: ['4caf50', 'ff9800', 'f44336', '2196f3', '9e9e9e'][i], ...stamps })));
    await rows('dcim_sites', named(SITES, (i) => ({ status: 'active', region_id: null, group_id: null, tenant_id: null, facility: `DC${i + 1}`, time_zone: 'Europe/Amsterdam', physical_address: '', comments: '', ...object })));
    await rows('dcim_manufacturers', named(['dell', 'lenovo'], () => object));
    await rows(
      'dcim_device_types',
      DEVICE_TYPES.map((slug, i) => ({ id: i + 1, manufacturer_id: slug === 'sr650' ? 2 : 1, model: slug.toUpperCase(), slug, part_number: '', u_height: 1, is_full_depth: 1, description: '', comments: '', ...object })),
    );
    await rows('dcim_device_roles', named(ROLES, () => ({ color: '9e9e9e', vm_role: 0, ...object })));
    await rows('ipam_prefixes', [
      { id: 1, prefix: '10.0.0.0/8', family: 4, mask_length: 8, start_key: '0a000000', end_key: '0affffff', status: 'active', site_id: null, tenant_id: null, is_pool: 0, mark_utilized: 0, description: '', comments: '', ...object },
    ]);

    // Device n: site n % 2, role (n / 2) % 4 (all 8 combinations equally), tags (n / 8) % 5 and the one after it.
    // Interface i belongs to device (i - 1) / 2 + 1 and holds IP address i; a device's first one is its primary IPv4.
    const statements = [
      gen.insertSeries(
        'dcim_devices',
        {
          id: 'n', name: `'node-' || n`, device_type_id: `n % ${DEVICE_TYPES.length} + 1`, role_id: `(n / ${SITES.length}) % ${ROLES.length} + 1`,
          tenant_id: `(n / 7) % ${TENANTS.length} + 1`, platform_id: 'null', serial: `'SN' || (1000000 + n)`, asset_tag: 'null',
          site_id: `n % ${SITES.length} + 1`, location_id: 'null', rack_id: 'null', position: 'null', face: 'null', status: `'active'`,
          primary_ip4_id: `${INTERFACES_PER_DEVICE} * (n - 1) + 1`, primary_ip6_id: 'null', install_date: 'null', description: `''`, comments: `''`,
          created: `'${now}'`, last_updated: `'${now}'`, custom_fields: `'{}'`,
        },
        DEVICES,
      ),
      tagged(`(n / ${SITES.length * ROLES.length}) % ${TAGS.length} + 1`),
      tagged(`(n / ${SITES.length * ROLES.length} + 1) % ${TAGS.length} + 1`),
      gen.insertSeries(
        'dcim_interfaces',
        {
          id: 'n', device_id: `(n - 1) / ${INTERFACES_PER_DEVICE} + 1`, name: `'eth' || ((n - 1) % ${INTERFACES_PER_DEVICE})`, type: `'25gbase-x-sfp28'`,
          enabled: '1', mtu: 'null', mac_address: `'02:00:' || ${[24, 16, 8, 0].map((shift) => gen.hex2(`(n >> ${shift}) & 255`)).join(` || ':' || `)}`,
          mgmt_only: '0', description: `''`, created: `'${now}'`, last_updated: `'${now}'`, custom_fields: `'{}'`,
        },
        INTERFACES,
      ),
      gen.insertSeries(
        'ipam_ip_addresses',
        {
          id: 'n', address: `((${NET_10} + n) >> 24) || '.' || (((${NET_10} + n) >> 16) & 255) || '.' || (((${NET_10} + n) >> 8) & 255) || '.' || ((${NET_10} + n) & 255) || '/8'`,
          family: '4', mask_length: '8', key: gen.hex8(`${NET_10} + n`), status: `'active'`, role: 'null', tenant_id: 'null',
          assigned_object_type: `case when n <= ${INTERFACES} then 'dcim.interface' end`, assigned_object_id: `case when n <= ${INTERFACES} then n end`,
          dns_name: `''`, description: `''`, comments: `''`, created: `'${now}'`, last_updated: `'${now}'`, custom_fields: `'{}'`,
        },
        ADDRESSES,
      ),
    ];
    for (const statement of statements) await sql.raw(statement).execute(tx.db);
    // The used-address index: the million addresses are one run.
    await tx.db.insertInto('ipam_used_runs').values({ family: 4, start_key: (NET_10 + 1).toString(16).padStart(8, '0'), end_key: (NET_10 + ADDRESSES).toString(16).padStart(8, '0') }).execute();
  });

  if (store.backend === 'postgres') {
    // Rows were written with explicit ids: move each identity past them, or the API's first insert collides.
    for (const table of ['tenancy_tenants', 'extras_tags', 'dcim_sites', 'dcim_manufacturers', 'dcim_device_types', 'dcim_device_roles', 'dcim_devices', 'dcim_interfaces', 'ipam_prefixes', 'ipam_ip_addresses']) {
      await sql.raw(`select setval(pg_get_serial_sequence('${table}', 'id'), (select max(id) from ${table}))`).execute(store.db);
    }
    // What autovacuum does within a minute of a bulk load; SQLite has no such thing and Hangar runs no ANALYZE there.
    await sql.raw('vacuum analyze').execute(store.db);
  }
}

function queries(): Query[] {
  const next = random(42);
  const first = NET_10 + ADDRESSES + 1;
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(what);
  };
  type Page = { count: number; results: Array<Record<string, unknown>> };
  const slugs = (value: unknown) => (Array.isArray(value) ? value : [value]).map((item) => (item as { slug?: string } | null)?.slug);
  return [
    {
      name: 'list',
      label: 'devices ?site&role&tag limit=1000',
      targetMs: LIST_TARGET_MS,
      warmup: 5,
      samples: 200,
      capSeconds: 40,
      request() {
        const [site, role, tag] = [pick(SITES, next), pick(ROLES, next), pick(TAGS, next)];
        return {
          method: 'GET',
          path: `/api/dcim/devices/?site=${site}&role=${role}&tag=${tag}&limit=1000`,
          check(status, body) {
            const page = body as Page;
            expect(status === 200, `status ${status}: ${JSON.stringify(body).slice(0, 300)}`);
            expect(page.count > 1000 && page.results.length === 1000, `count ${page.count}, ${page.results.length} results`);
            const device = page.results[0] ?? {};
            expect(slugs(device.site)[0] === site && slugs(device.role)[0] === role && slugs(device.tags).includes(tag), `device ${String(device.id)} does not match`);
          },
        };
      },
    },
    {
      name: 'q',
      label: 'devices ?q=node-NNNN limit=50',
      targetMs: LIST_TARGET_MS,
      warmup: 5,
      samples: 200,
      capSeconds: 30,
      request() {
        // node-N for N in 1000..9999 matches node-N and node-N0 .. node-N9 (and node-100000 for N = 1000).
        const text = `node-${1000 + Math.floor(next() * 9000)}`;
        return {
          method: 'GET',
          path: `/api/dcim/devices/?q=${text}&limit=50`,
          check(status, body) {
            const page = body as Page;
            expect(status === 200, `status ${status}: ${JSON.stringify(body).slice(0, 300)}`);
            expect(page.count >= 11 && page.count <= 12 && page.results.every((d) => String(d.name).includes(text)), `q=${text}: count ${page.count}`);
          },
        };
      },
    },
    {
      name: 'mac',
      label: 'devices ?mac_address=',
      targetMs: LIST_TARGET_MS,
      warmup: 10,
      samples: 500,
      capSeconds: 20,
      request() {
        const iface = 1 + Math.floor(next() * INTERFACES);
        const device = Math.ceil(iface / INTERFACES_PER_DEVICE);
        return {
          method: 'GET',
          path: `/api/dcim/devices/?mac_address=${macOf(iface)}`,
          check(status, body) {
            const page = body as Page;
            expect(status === 200, `status ${status}: ${JSON.stringify(body).slice(0, 300)}`);
            expect(page.count === 1 && page.results[0]?.id === device, `MAC ${macOf(iface)}: count ${page.count}, not device ${device}`);
          },
        };
      },
    },
    {
      name: 'alloc',
      label: 'POST prefixes/1/available-ips/',
      targetMs: ALLOCATION_TARGET_MS,
      warmup: 10,
      samples: 500,
      capSeconds: 20,
      request(i) {
        const address = `${ipv4(first + i)}/8`;
        return {
          method: 'POST',
          path: '/api/ipam/prefixes/1/available-ips/',
          body: {},
          check(status, body) {
            expect(status === 201 && (body as { address?: string }).address === address, `status ${status}, expected ${address}: ${JSON.stringify(body).slice(0, 300)}`);
          },
        };
      },
    },
  ];
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function measure(server: RunningHangar, token: string, query: Query): Promise<Measured> {
  const headers = { authorization: `Token ${token}`, accept: 'application/json', 'content-type': 'application/json' };
  const timings: number[] = [];
  const deadline = performance.now() + query.capSeconds * 1000;
  for (let i = 0; i < query.warmup + query.samples && performance.now() < deadline; i++) {
    const { method, path, body, check } = query.request(i);
    const started = performance.now();
    const response = await fetch(`${server.url}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await response.text();
    const elapsed = performance.now() - started;
    check(response.status, JSON.parse(text));
    if (i >= query.warmup) timings.push(elapsed);
  }
  const sorted = timings.sort((a, b) => a - b);
  if (sorted.length === 0) throw new Error(`${query.label}: no timed request within ${query.capSeconds} s`);
  return { query, count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

function ms(value: number): string {
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
}

async function runBackend(backend: Backend): Promise<BackendResult> {
  const database = await createTestDatabase(backend);
  let server: RunningHangar | undefined;
  try {
    const services = await openServices(database.location);
    let token: string;
    let generateSeconds: number;
    try {
      token = (await services.tokens.create({ scope: 'write', description: 'bench/inventory' }, 'bench')).token;
      const started = performance.now();
      await generate(services.store);
      generateSeconds = (performance.now() - started) / 1000;
    } finally {
      await services.store.close();
    }
    // The machine may be shared: the load average tells how far the figures are from an idle one.
    const load = loadavg()[0]?.toFixed(1);
    console.log(`${backend}: wrote ${DEVICES} devices, ${INTERFACES} interfaces, ${ADDRESSES} IP addresses in ${generateSeconds.toFixed(1)} s (load average ${load})`);
    server = await startHangar(database.location);
    console.log(`  hangar serve answered after ${Math.round(server.readyAfterMs)} ms`);
    const measured: Measured[] = [];
    for (const query of queries()) measured.push(await measure(server, token, query));
    console.log(`  ${'query'.padEnd(36)} ${'n'.padStart(4)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)} ${'target'.padStart(7)}`);
    for (const m of measured) {
      console.log(`  ${m.query.label.padEnd(36)} ${String(m.count).padStart(4)} ${ms(m.p50).padStart(8)} ${ms(m.p99).padStart(8)} ${ms(m.max).padStart(8)} ${`${m.query.targetMs} ms`.padStart(7)}`);
    }
    return { backend, measured };
  } finally {
    if (server) {
      const code = await server.stop();
      if (code !== 0) console.error(`${backend}: hangar serve exited with ${code}: ${server.stderr().slice(-2000)}`);
    }
    await database.drop();
  }
}

async function main(): Promise<void> {
  if (!testBackends.includes('postgres')) console.error('inventory: HANGAR_TEST_PG_URL is not set, measuring SQLite only (bench/inventory starts a PostgreSQL)');
  const results: BackendResult[] = [];
  for (const backend of testBackends) results.push(await runBackend(backend));
  const ratio = Math.min(...results.flatMap((r) => r.measured.map((m) => m.query.targetMs / m.p99)));
  const figures = results.map((r) => `${r.backend} ${r.measured.map((m) => `${m.query.name} p99 ${ms(m.p99)} ms`).join(', ')}`).join('; ');
  console.log(`inventory: ${figures}, ratio ${ratio < 10 ? ratio.toFixed(2) : ratio.toFixed(1)} against targets`);
}

await main();
