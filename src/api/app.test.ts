import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { testBackends } from '../store/database-fixture.js';
import { startTestApi, type TestApi } from './api-fixture.js';

for (const backend of testBackends) {
  describe(`API foundation on ${backend}`, () => {
    let api: TestApi;
    before(async () => {
      api = await startTestApi(backend);
    });
    after(async () => api.close());

    const auditCount = async () => (await api.services.audit.list({ limit: 1 })).count;
    const tokenCount = async () => (await api.services.tokens.list()).length;

    test('status needs no token and names the backend; responses carry a request id', async () => {
      const res = await api.call('GET', '/api/status/', { token: null, headers: { 'x-request-id': 'abc-123' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().database, backend);
      assert.equal(res.headers['x-request-id'], 'abc-123');
      const generated = await api.call('GET', '/api/status/', { token: null });
      assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/);
    });

    test('the OpenAPI document lists the routes with their schemas', async () => {
      const res = await api.call('GET', '/api/schema/?format=json', { token: null });
      assert.equal(res.statusCode, 200);
      const doc = res.json();
      assert.equal(doc.openapi, '3.0.3');
      assert.ok(doc.paths['/api/tokens/'].post.requestBody);
      assert.ok(doc.paths['/api/audit/'].get.parameters.some((p: { name: string }) => p.name === 'object_type'));
    });

    test('401 without a token, with an unknown token, with a malformed header', async () => {
      const attempts: Array<Record<string, string>> = [{}, { authorization: 'Token hgr_nope' }, { authorization: 'Basic abc' }];
      for (const headers of attempts) {
        const res = await api.call('GET', '/api/audit/', { token: null, headers });
        assert.equal(res.statusCode, 401, JSON.stringify(headers));
        assert.ok(res.json().detail);
      }
    });

    test('Token and Bearer both authenticate', async () => {
      for (const scheme of ['Token', 'Bearer']) {
        const res = await api.call('GET', '/api/audit/', { token: null, headers: { authorization: `${scheme} ${api.adminToken}` } });
        assert.equal(res.statusCode, 200, scheme);
      }
    });

    test('an expired token gets 401 naming the expiry', async () => {
      const expires = new Date(api.clock.now().getTime() + 60_000).toISOString();
      const token = await api.tokenWith('read', { expires });
      assert.equal((await api.call('GET', '/api/audit/', { token })).statusCode, 200);
      api.clock.advance(61_000);
      const res = await api.call('GET', '/api/audit/', { token });
      assert.equal(res.statusCode, 401);
      assert.match(res.json().detail, /expired/);
    });

    test('scopes: read cannot write, write cannot administer, admin can', async () => {
      const read = await api.tokenWith('read');
      const write = await api.tokenWith('write');
      assert.equal((await api.call('GET', '/api/events/', { token: read })).statusCode, 200);
      assert.equal((await api.call('GET', '/api/tokens/', { token: write })).statusCode, 403);
      assert.equal((await api.call('POST', '/api/tokens/', { token: read, body: { scope: 'read' } })).statusCode, 403);
      assert.equal((await api.call('POST', '/api/tokens/', { token: write, body: { scope: 'read' } })).statusCode, 403);
      assert.equal((await api.call('POST', '/api/tokens/', { body: { scope: 'read' } })).statusCode, 201);
    });

    test('a tenant-restricted token is refused on resources that belong to no tenant', async () => {
      const token = await api.tokenWith('admin', { tenant: 'acme' });
      const res = await api.call('GET', '/api/tokens/', { token });
      assert.equal(res.statusCode, 403);
      assert.match(res.json().detail, /tenant 'acme'/);
    });

    test('bad input gets 400 naming the field, and nothing is written or audited', async () => {
      const cases: Array<[string, { body?: unknown; rawBody?: string }, string]> = [
        ['unknown field', { body: { scope: 'read', colour: 'red' } }, 'body.colour'],
        ['wrong type', { body: { scope: 5 } }, 'body.scope'],
        ['not a choice', { body: { scope: 'root' } }, 'body.scope'],
        ['missing field', { body: { description: 'x' } }, 'body.scope'],
        ['bad date-time', { body: { scope: 'read', expires: 'tomorrow' } }, 'body.expires'],
        ['too long', { body: { scope: 'read', description: 'x'.repeat(201) } }, 'body.description'],
        ['invalid JSON', { rawBody: '{"scope": "read"' }, 'body'],
        ['not an object', { rawBody: '[1,2]' }, 'body'],
      ];
      const audits = await auditCount();
      const tokens = await tokenCount();
      for (const [name, input, field] of cases) {
        const res = await api.call('POST', '/api/tokens/', input);
        assert.equal(res.statusCode, 400, name);
        assert.equal(res.json().field, field, name);
        assert.ok(res.json().detail.startsWith(field), name);
      }
      const query = await api.call('GET', '/api/audit/?limit=5000');
      assert.equal(query.statusCode, 400);
      assert.equal(query.json().field, 'query.limit');
      const unknown = await api.call('GET', '/api/audit/?colour=red');
      assert.equal(unknown.json().field, 'query.colour');
      assert.equal(await auditCount(), audits);
      assert.equal(await tokenCount(), tokens);
    });

    test('an oversize body is refused with 413 and nothing is written', async () => {
      const small = await startTestApi(backend, { bodyLimit: 1024 });
      try {
        const before = (await small.services.tokens.list()).length;
        const res = await small.call('POST', '/api/tokens/', { body: { scope: 'read', description: 'x'.repeat(2000) } });
        assert.equal(res.statusCode, 413);
        assert.equal(res.json().field, 'body');
        assert.equal((await small.services.tokens.list()).length, before);
      } finally {
        await small.close();
      }
    });

    test('a change whose audit write fails is rolled back with it', async () => {
      const db = api.services.store.db;
      const tokens = await tokenCount();
      const audits = await auditCount();
      if (backend === 'sqlite') {
        await sql`create trigger audit_fails before insert on audit_entries begin select raise(abort, 'audit is broken'); end`.execute(db);
      } else {
        await sql`create function audit_fails() returns trigger language plpgsql as $$ begin raise exception 'audit is broken'; end $$`.execute(db);
        await sql`create trigger audit_fails before insert on audit_entries for each row execute function audit_fails()`.execute(db);
      }
      try {
        const res = await api.call('POST', '/api/tokens/', { body: { scope: 'read' } });
        assert.equal(res.statusCode, 500);
        assert.equal(await tokenCount(), tokens);
        assert.equal(await auditCount(), audits);
      } finally {
        await sql`drop trigger audit_fails${backend === 'postgres' ? sql` on audit_entries` : sql``}`.execute(db);
      }
      assert.equal((await api.call('POST', '/api/tokens/', { body: { scope: 'read' } })).statusCode, 201);
    });

    test('revoking a token audits it and makes it useless', async () => {
      const created = await api.call('POST', '/api/tokens/', { body: { scope: 'read', description: 'short-lived' } });
      const { token, record } = created.json();
      assert.equal((await api.call('GET', '/api/events/', { token })).statusCode, 200);
      assert.equal((await api.call('DELETE', `/api/tokens/${record.id}/`)).statusCode, 204);
      assert.equal((await api.call('GET', '/api/events/', { token })).statusCode, 401);
      assert.equal((await api.call('DELETE', `/api/tokens/${record.id}/`)).statusCode, 404);
      const audit = await api.call('GET', `/api/audit/?object_type=token&object_id=${record.id}`);
      assert.deepEqual(audit.json().results.map((e: { action: string }) => e.action), ['delete', 'create']);
      const secretFree = JSON.stringify(audit.json());
      assert.ok(!secretFree.includes(token.slice(12)), 'audit entries never contain the secret');
    });

    test('audit list pages NetBox-style and verify passes on an intact chain', async () => {
      const res = await api.call('GET', '/api/audit/?limit=2');
      const body = res.json();
      assert.ok(body.count >= 3);
      assert.equal(body.results.length, 2);
      assert.match(body.next, /limit=2&offset=2/);
      assert.equal(body.previous, null);
      const verify = await api.call('GET', '/api/audit/verify/');
      assert.deepEqual(verify.json().problem, null);
      assert.equal(verify.json().ok, true);
    });

    test('verify names the first altered, removed or reordered entry', async () => {
      for (let i = 0; i < 4; i++) await api.call('POST', '/api/tokens/', { body: { scope: 'read', description: `t${i}` } });
      const db = api.services.store.db;
      const { count } = await api.services.audit.list({ limit: 1 });
      const target = count - 2;
      const original = await db.selectFrom('audit_entries').selectAll().where('id', '=', target).executeTakeFirstOrThrow();

      await db.updateTable('audit_entries').set({ actor: 'mallory' }).where('id', '=', target).execute();
      assert.deepEqual((await api.services.audit.verify()).problem, { id: target, reason: 'content does not match its hash (altered)' });
      await db.updateTable('audit_entries').set({ actor: original.actor }).where('id', '=', target).execute();
      assert.equal((await api.services.audit.verify()).ok, true);

      await db.deleteFrom('audit_entries').where('id', '=', target).execute();
      assert.equal((await api.services.audit.verify()).problem?.id, target);
      await db.insertInto('audit_entries').values(original).execute();

      const next = await db.selectFrom('audit_entries').selectAll().where('id', '=', target + 1).executeTakeFirstOrThrow();
      await db.updateTable('audit_entries').set({ ...next, id: target }).where('id', '=', target).execute();
      await db.updateTable('audit_entries').set({ ...original, id: target + 1 }).where('id', '=', target + 1).execute();
      assert.equal((await api.services.audit.verify()).problem?.id, target);
      await db.updateTable('audit_entries').set(original).where('id', '=', target).execute();
      await db.updateTable('audit_entries').set(next).where('id', '=', target + 1).execute();

      await db.deleteFrom('audit_entries').where('id', '=', count).execute();
      const truncated = await api.services.audit.verify();
      assert.equal(truncated.problem?.id, count);
      assert.match(truncated.problem?.reason ?? '', /missing from the end/);
    });
  });
}
