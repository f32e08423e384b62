import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../core/clock.js';
import { openServices } from '../main.js';
import { createTestDatabase } from '../store/database-fixture.js';
import { EventBatcher } from './batcher.js';

describe('EventBatcher', () => {
  test('events added together are written in one batch, in order, with the time they happened', async () => {
    const database = await createTestDatabase('sqlite');
    const clock = new ManualClock(new Date('2026-11-25T10:00:00Z'));
    const services = await openServices(database.location, clock);
    try {
      const batcher = new EventBatcher(services.store, services.events, clock, { intervalMs: 10_000, log: () => {} });
      for (let index = 0; index < 250; index++) {
        batcher.add({ type: 'boot.script', subject: `m${index}`, data: { index } });
        clock.advance(1000);
      }
      assert.equal((await services.events.list({ limit: 10 })).length, 0, 'nothing is written before the batch');
      await batcher.close();
      const events = await services.events.list({ afterId: 0, limit: 1000 });
      assert.deepEqual(events.map((event) => event.subject), Array.from({ length: 250 }, (_, index) => `m${index}`));
      assert.equal(events[1]!.time, '2026-11-25T10:00:01.000Z');
    } finally {
      await services.store.close();
      await database.drop();
    }
  });

  test('a failed batch stays pending and is written with the next; beyond maxPending events are dropped and counted', async () => {
    const database = await createTestDatabase('sqlite');
    const clock = new ManualClock(new Date('2026-11-25T10:00:00Z'));
    const services = await openServices(database.location, clock);
    const logged: string[] = [];
    try {
      const batcher = new EventBatcher(services.store, services.events, clock, { intervalMs: 10_000, maxPending: 3, log: (message) => logged.push(message) });
      const transaction = services.store.transaction.bind(services.store);
      let failures = 1;
      services.store.transaction = ((work: never) => (failures-- > 0 ? Promise.reject(new Error('disk full')) : transaction(work))) as typeof services.store.transaction;
      batcher.add({ type: 'a', subject: '1' });
      batcher.add({ type: 'a', subject: '2' });
      await batcher.flush();
      assert.match(logged[0]!, /retrying with the next batch/);
      batcher.add({ type: 'a', subject: '3' });
      batcher.add({ type: 'a', subject: '4' });
      assert.equal(batcher.dropped, 1);
      await batcher.close();
      const events = await services.events.list({ afterId: 0, limit: 10 });
      assert.deepEqual(events.map((event) => event.subject), ['1', '2', '3']);
    } finally {
      await services.store.close();
      await database.drop();
    }
  });
});
