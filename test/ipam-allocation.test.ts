import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import type { DynamicDatabase } from '../src/inventory/model.js';
import { openServices } from '../src/main.js';
import { createTestDatabase, testBackends, type TestDatabase } from '../src/store/database-fixture.js';
import { hangar, startHangar, type RunningHangar } from './lab/hangar-process.js';

/**
 * available-ips under real concurrency: several `hangar serve` processes on one store (two servers on one
 * PostgreSQL database, two on one SQLite data directory), many allocations in flight at once. No address may be
 * handed out twice, every acknowledged allocation must be stored and audited, and the audit chain must verify.
 */

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

async function call(server: RunningHangar, token: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Fires `count` POSTs to a prefix's available-ips at once, spread round-robin over the servers. */
async function allocateInParallel(servers: RunningHangar[], token: string, prefixId: number, count: number): Promise<Reply[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) => call(servers[i % servers.length]!, token, 'POST', `/api/ipam/prefixes/${prefixId}/available-ips/`, { description: `parallel-${i}` })),
  );
}

/** The store's own view: no address key twice, and the used-address runs match the IP addresses exactly. */
async function assertStoreConsistent(database: TestDatabase): Promise<void> {
  const services = await openServices(database.location);
  try {
    const db = services.store.db as unknown as Kysely<DynamicDatabase>;
    const rows = await db.selectFrom('ipam_ip_addresses').select(['family', 'key']).execute();
    const keys = rows.map((row) => `${String(row.family)}:${String(row.key)}`);
    assert.equal(new Set(keys).size, keys.length, 'no address key is stored twice');
    const runs = await services.store.db.selectFrom('ipam_used_runs').select(['family', 'start_key', 'end_key']).orderBy('family').orderBy('start_key').execute();
    // Every used address lies in exactly one run, and the runs hold no address that is not in use.
    const sortedKeys = rows.map((row) => ({ family: Number(row.family), key: String(row.key) })).sort((a, b) => a.family - b.family || a.key.localeCompare(b.key));
    let covered = 0;
    for (const run of runs) {
      const inside = sortedKeys.filter((k) => k.family === run.family && k.key >= run.start_key && k.key <= run.end_key);
      assert.ok(inside.length > 0, `run ${run.start_key}-${run.end_key} holds no address`);
      covered += inside.length;
    }
    assert.equal(covered, sortedKeys.length, 'every used address is in a run');
    const verification = await services.audit.verify();
    assert.equal(verification.ok, true, JSON.stringify(verification.problem));
  } finally {
    await services.store.close();
  }
}

for (const backend of testBackends) {
  describe(`available-ips with two hangar serve processes on one ${backend} store`, () => {
    let database: TestDatabase;
    let servers: RunningHangar[] = [];
    let token: string;

    before(async () => {
      database = await createTestDatabase(backend);
      const created = hangar(database.location, 'token', 'create', '--scope', 'admin');
      assert.equal(created.status, 0, created.stderr);
      token = created.stdout.trim();
      servers = await Promise.all([startHangar(database.location), startHangar(database.location)]);
    });
    after(async () => {
      await Promise.all(servers.map((server) => server.stop()));
      await database.drop();
    });

    test('50 parallel allocations from one /24 get 50 distinct addresses, all stored and audited', async () => {
      const [a] = servers;
      const prefix = await call(a!, token, 'POST', '/api/ipam/prefixes/', { prefix: '10.0.0.0/24' });
      assert.equal(prefix.status, 201, JSON.stringify(prefix.body));
      const replies = await allocateInParallel(servers, token, Number(prefix.body.id), 50);
      assert.deepEqual(
        replies.filter((r) => r.status !== 201),
        [],
        'every allocation succeeds',
      );
      const addresses = replies.map((r) => String(r.body.address));
      assert.equal(new Set(addresses).size, 50, `distinct: ${addresses.join(' ')}`);
      const expected = Array.from({ length: 50 }, (_, i) => `10.0.0.${i + 1}/24`);
      assert.deepEqual([...addresses].sort(), [...expected].sort(), 'the first 50 usable addresses, no gaps');

      for (const server of servers) {
        const listed = await call(server, token, 'GET', '/api/ipam/ip-addresses/?parent=10.0.0.0/24&limit=0');
        assert.equal(listed.body.count, 50);
        const stored = (listed.body.results as Array<{ address: string }>).map((r) => r.address);
        assert.deepEqual(stored, expected, 'stored in address order');
        const next = await call(server, token, 'GET', `/api/ipam/prefixes/${String(prefix.body.id)}/available-ips/?limit=1`);
        assert.deepEqual((next.body as unknown as Array<{ address: string }>).map((r) => r.address), ['10.0.0.51/24']);
      }
      const audit = await call(a!, token, 'GET', '/api/audit/?object_type=ipam.ipaddress&limit=1000');
      assert.equal(audit.body.count, 50);
      const audited = (audit.body.results as Array<{ object_id: string; action: string }>).filter((e) => e.action === 'create').map((e) => Number(e.object_id));
      assert.deepEqual(audited.sort((x, y) => x - y), replies.map((r) => Number(r.body.id)).sort((x, y) => x - y));
      const events = await call(a!, token, 'GET', '/api/events/?type=ipam.ipaddress.created&limit=1000');
      assert.equal((events.body.results as unknown[]).length, 50);

      await assertStoreConsistent(database);
      const verify = hangar(database.location, 'audit', 'verify');
      assert.equal(verify.status, 0, verify.stderr);
      assert.match(verify.stdout, /intact/);
    });

    test('30 parallel allocations from a /28 (14 usable): exactly 14 succeed, the rest are 409s, nothing twice', async () => {
      const prefix = await call(servers[1]!, token, 'POST', '/api/ipam/prefixes/', { prefix: '10.0.1.0/28' });
      assert.equal(prefix.status, 201, JSON.stringify(prefix.body));
      const replies = await allocateInParallel(servers, token, Number(prefix.body.id), 30);
      const won = replies.filter((r) => r.status === 201);
      const refused = replies.filter((r) => r.status !== 201);
      assert.equal(won.length, 14, JSON.stringify(refused.filter((r) => r.status !== 409)));
      assert.ok(refused.every((r) => r.status === 409 && /1 requested, 0 available/.test(String(r.body.detail))), JSON.stringify(refused[0]));
      const addresses = won.map((r) => String(r.body.address)).sort();
      assert.deepEqual(addresses, Array.from({ length: 14 }, (_, i) => `10.0.1.${i + 1}/28`).sort());
      const listed = await call(servers[0]!, token, 'GET', '/api/ipam/ip-addresses/?parent=10.0.1.0/28&limit=0');
      assert.equal(listed.body.count, 14);

      await assertStoreConsistent(database);
      const verify = hangar(database.location, 'audit', 'verify');
      assert.equal(verify.status, 0, verify.stderr);
    });
  });
}
