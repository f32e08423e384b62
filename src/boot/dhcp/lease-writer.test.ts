import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { createTestDatabase, testBackends, type TestDatabase } from '../../store/database-fixture.js';
import { Store } from '../../store/store.js';
import { journalLines, LeaseJournal, listSegments } from './lease-journal.js';
import { LeaseWriter } from './lease-writer.js';
import type { LeaseRecord } from './leases.js';

const lease = (n: number, state: LeaseRecord['state'] = 'bound'): LeaseRecord => ({ address: `10.9.0.${n}`, mac: `02:00:00:00:09:${String(n).padStart(2, '0')}`, subnet: 'lab', state, expiresAt: 1_900_000_000_000, hostname: null, clientId: null });
const ack = (n: number) => ({ type: 'dhcp.ack', subject: `02:00:00:00:09:${String(n).padStart(2, '0')}`, actor: 'dhcp', data: { address: `10.9.0.${n}` } });
const TIME = '2026-11-25T09:00:00.000Z';

for (const backend of testBackends) {
  describe(`the lease writer indexes the journal into the store (${backend})`, () => {
    let database: TestDatabase;
    let store: Store;
    let journalDir: string;
    const stored = async () => {
      const db = store.db as unknown as Kysely<unknown>;
      const leases = (await sql<{ address: string; state: string }>`select address, state from dhcp_leases order by address`.execute(db)).rows;
      const events = (await sql<{ subject: string; time: string }>`select subject, time from events where type = 'dhcp.ack' order by id`.execute(db)).rows;
      return { leases, events };
    };
    const onRetry = (problem: string) => assert.fail(`unexpected retry: ${problem}`);

    before(async () => {
      database = await createTestDatabase(backend);
      store = await Store.open(database.location);
      journalDir = join(mkdtempSync(join(tmpdir(), 'hangar-lease-writer-')), 'dhcp-journal');
    });
    after(async () => {
      rmSync(dirname(journalDir), { recursive: true, force: true });
      await store.close();
      await database.drop();
    });

    test('on start, what a crashed run journaled is indexed, once, and its segments deleted', async () => {
      // A run that journaled two segments' worth and died before indexing any of it.
      const crashed = await LeaseJournal.open(journalDir, 1, 512);
      for (let n = 1; n <= 6; n++) await crashed.append(journalLines([lease(n)], [ack(n)], TIME));
      await crashed.close();
      assert.ok(listSegments(journalDir).length >= 2);

      const writer = await LeaseWriter.start({ location: database.location, journalDir }, onRetry);
      try {
        assert.ok(writer.recovered >= 2, `recovered ${writer.recovered}`);
        assert.deepEqual(listSegments(journalDir), []);
        const { leases, events } = await stored();
        assert.deepEqual(leases.map((row) => row.address), ['10.9.0.1', '10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6']);
        assert.equal(events.length, 6);
        assert.equal(events[0]?.time, TIME, 'events keep the time of the exchange');

        // The next run writes after the recovered segments, and indexing follows it step by step.
        const journal = await LeaseJournal.open(journalDir, writer.nextSegment, 512);
        await journal.append(journalLines([lease(1, 'released')], [ack(7)], TIME));
        await writer.index(journal.position, false);
        assert.equal((await stored()).leases[0]?.state, 'released');
        await journal.append(journalLines([lease(8)], [], TIME));
        await journal.close();
        await writer.index(journal.position, false);
        assert.equal((await stored()).leases.length, 7);
        assert.equal((await stored()).events.length, 7);
      } finally {
        await writer.stop();
      }

      // A restart finds the journal indexed up to its end: nothing is indexed twice.
      const again = await LeaseWriter.start({ location: database.location, journalDir }, onRetry);
      await again.stop();
      assert.equal(again.recovered, 0);
      assert.equal((await stored()).events.length, 7);
      assert.deepEqual(listSegments(journalDir), []);
    });
  });
}
