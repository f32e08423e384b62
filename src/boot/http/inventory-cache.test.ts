import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../core/clock.js';
import { InventoryCache } from './inventory-cache.js';

describe('InventoryCache', () => {
  test('loads once per key until the generation changes, checking it at most every interval', async () => {
    const clock = new ManualClock();
    let generation = 1;
    let reads = 0;
    const cache = new InventoryCache(async () => (reads++, generation), clock, 250);
    let loads = 0;
    const load = (value: string) => async () => (loads++, `${value}@${generation}`);
    assert.equal(await cache.get('a', load('a')), 'a@1');
    assert.equal(await cache.get('a', load('a')), 'a@1');
    assert.equal(await cache.get('b', load('b')), 'b@1');
    assert.deepEqual([loads, reads], [2, 1]);

    generation = 2;
    clock.advance(100);
    assert.equal(await cache.get('a', load('a')), 'a@1', 'within the interval the old value stands');
    clock.advance(200);
    assert.equal(await cache.get('a', load('a')), 'a@2');
    assert.deepEqual([loads, reads], [3, 2]);
    clock.advance(300);
    assert.equal(await cache.get('a', load('a')), 'a@2', 'an unchanged generation keeps the entries');
    assert.deepEqual([loads, reads], [3, 3]);
  });

  test('a load that overlaps a change is served but not kept; the cache is bounded', async () => {
    const clock = new ManualClock();
    let generation = 1;
    const cache = new InventoryCache(async () => generation, clock, 0, 2);
    let loads = 0;
    const value = await cache.get('a', async () => {
      loads++;
      generation = 2;
      await cache.get('other', async () => 'x');
      return 'stale';
    });
    assert.equal(value, 'stale');
    assert.equal(await cache.get('a', async () => (loads++, 'fresh')), 'fresh');
    assert.equal(loads, 2);
    for (const key of ['b', 'c', 'd']) await cache.get(key, async () => key);
    let reloaded = false;
    await cache.get('a', async () => ((reloaded = true), 'fresh'));
    assert.ok(reloaded, 'the cache was cleared when full');
  });
});
