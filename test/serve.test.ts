import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { openServices } from '../src/main.js';
import { createTestDatabase, testBackends, type TestDatabase } from '../src/store/database-fixture.js';
import { hangar, startHangar } from './lab/hangar-process.js';

/** Creates tokens through the API, `count` requests in flight at once; returns how many succeeded. */
async function createTokens(url: string, token: string, count: number, label: string): Promise<number> {
  const results = await Promise.allSettled(
    Array.from({ length: count }, (_, i) =>
      fetch(`${url}/api/tokens/`, {
        method: 'POST',
        headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ scope: 'read', description: `${label}-${i}` }),
      }),
    ),
  );
  return results.filter((r) => r.status === 'fulfilled' && r.value.status === 201).length;
}

/** Every token has exactly one creation entry in the audit log and one event, and the chain verifies. */
async function assertConsistent(database: TestDatabase): Promise<number> {
  const services = await openServices(database.location);
  try {
    const verification = await services.audit.verify();
    assert.equal(verification.ok, true, JSON.stringify(verification.problem));
    const tokens = await services.tokens.list();
    const db = services.store.db;
    const audited = await db.selectFrom('audit_entries').select('object_id').where('object_type', '=', 'token').where('action', '=', 'create').execute();
    const evented = await db.selectFrom('events').select('subject').where('type', '=', 'token.created').execute();
    assert.deepEqual(audited.map((r) => Number(r.object_id)).sort((a, b) => a - b), tokens.map((t) => t.id));
    assert.deepEqual(evented.map((r) => Number(r.subject.split(':')[1])).sort((a, b) => a - b), tokens.map((t) => t.id));
    return tokens.length;
  } finally {
    await services.store.close();
  }
}

for (const backend of testBackends) {
  describe(`hangar serve and CLI on ${backend}`, () => {
    let database: TestDatabase;
    let admin: string;
    before(async () => {
      database = await createTestDatabase(backend);
    });
    after(async () => database.drop());

    // How fast it answers is bench/startup's job: a timed assertion here would fail on a loaded CI machine.
    test('on a fresh store, serve answers /api/status/, and SIGTERM stops it cleanly', async () => {
      const server = await startHangar(database.location);
      try {
        const status = await (await fetch(`${server.url}/api/status/`)).json();
        assert.equal(status.database, backend);
      } finally {
        assert.equal(await server.stop('SIGTERM'), 0);
      }
    });

    test('token create prints the token alone, or an object with --json; list shows no secrets', () => {
      const plain = hangar(database.location, 'token', 'create', '--scope', 'admin');
      assert.equal(plain.status, 0, plain.stderr);
      assert.match(plain.stdout, /^hgr_[0-9a-f]{40}\n$/);
      admin = plain.stdout.trim();
      const json = hangar(database.location, 'token', 'create', '--scope', 'read', '--tenant', 'acme', '--expires', '30d', '--json');
      assert.equal(json.status, 0, json.stderr);
      const parsed = JSON.parse(json.stdout);
      assert.match(parsed.token, /^hgr_/);
      assert.equal(parsed.tenant, 'acme');
      assert.ok(new Date(parsed.expires).getTime() > Date.now() + 29 * 86_400_000);
      const list = hangar(database.location, 'token', 'list', '--json');
      assert.equal(JSON.parse(list.stdout).length, 2);
      assert.ok(!list.stdout.includes(parsed.token));
      assert.match(hangar(database.location, 'token', 'list').stdout, /ID.*PREFIX.*SCOPE/);
    });

    test('bad CLI input fails with a message naming what is wrong, and writes nothing', () => {
      const cases: Array<[string[], RegExp]> = [
        [['token', 'create', '--scope', 'root'], /--scope/],
        [['token', 'create'], /--scope/],
        [['token', 'create', '--scope', 'read', '--expires', 'soonish'], /--expires/],
        [['token', 'create', '--scope', 'read', '--tenant', 'Not A Slug'], /tenant/],
        [['token', 'revoke', 'abc'], /token id 'abc'/],
        [['token', 'revoke', '9999'], /token 9999 does not exist/],
        [['audit', 'list', '--limit', '-3'], /--limit/],
        [['serve', '--listen', 'nowhere'], /--listen/],
      ];
      const before = hangar(database.location, 'audit', 'list', '--json').stdout;
      for (const [args, message] of cases) {
        const result = hangar(database.location, ...args);
        assert.notEqual(result.status, 0, args.join(' '));
        assert.match(result.stderr, message, args.join(' '));
      }
      assert.equal(hangar(database.location, 'audit', 'list', '--json').stdout, before);
    });

    test('audit verify passes, then exits non-zero naming the entry someone altered', async () => {
      const ok = hangar(database.location, 'audit', 'verify');
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(ok.stdout, /intact: \d+ entries/);
      const services = await openServices(database.location);
      try {
        await sql`update audit_entries set actor = 'mallory' where id = 1`.execute(services.store.db);
        const broken = hangar(database.location, 'audit', 'verify');
        assert.equal(broken.status, 1);
        assert.match(broken.stderr, /broken at entry 1: .*altered/);
        assert.equal(JSON.parse(hangar(database.location, 'audit', 'verify', '--json').stdout).problem.id, 1);
      } finally {
        await sql`update audit_entries set actor = 'cli:' || ${process.env.USER ?? 'root'} where id = 1`.execute(services.store.db);
        await services.store.close();
      }
    });

    test('SIGKILL in the middle of a burst of writes leaves no half-applied change', async () => {
      const server = await startHangar(database.location);
      const burst = createTokens(server.url, admin, 300, 'burst');
      await new Promise((resolve) => setTimeout(resolve, 150));
      await server.stop('SIGKILL');
      const succeeded = await burst;
      assert.ok(succeeded < 300, 'the kill landed while requests were in flight');
      const count = await assertConsistent(database);
      assert.ok(count >= 2 + succeeded, 'every acknowledged token survived');
      const restarted = await startHangar(database.location);
      try {
        assert.equal(await createTokens(restarted.url, admin, 5, 'after'), 5);
      } finally {
        await restarted.stop();
      }
      await assertConsistent(database);
    });

    test('two processes writing to one store keep one intact chain', async () => {
      const [a, b] = await Promise.all([startHangar(database.location), startHangar(database.location)]);
      try {
        const made = await Promise.all([createTokens(a.url, admin, 60, 'a'), createTokens(b.url, admin, 60, 'b')]);
        assert.deepEqual(made, [60, 60]);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
      await assertConsistent(database);
    });
  });
}
