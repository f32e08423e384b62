import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { orderMirrors, type Mirror } from './mirrors.js';

function mac(index: number): string {
  const bytes = [0x52, 0x54, 0x00, (index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff];
  return bytes.map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

const machines = Array.from({ length: 1000 }, (_, index) => mac(index));

function mirrorsNamed(...ids: string[]): Mirror[] {
  return ids.map((id) => ({ id }));
}

function firstChoice(key: string, mirrors: readonly Mirror[]): string {
  const first = orderMirrors(key, mirrors)[0];
  assert.ok(first);
  return first.id;
}

function countFirstChoices(keys: readonly string[], mirrors: readonly Mirror[]): Map<string, number> {
  const counts = new Map<string, number>(mirrors.map(({ id }) => [id, 0]));
  for (const key of keys) {
    const id = firstChoice(key, mirrors);
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

const four = mirrorsNamed('mirror-a', 'mirror-b', 'mirror-c', 'mirror-d');
/** What SHA-256 rendezvous gives 52:54:00:12:34:56 over `four`; it must never change between releases. */
const PINNED_ORDER = ['mirror-c', 'mirror-b', 'mirror-d', 'mirror-a'];

describe('orderMirrors', () => {
  test('the order is pinned, so a hash change cannot silently reshuffle the fleet', () => {
    assert.deepEqual(
      orderMirrors('52:54:00:12:34:56', four).map(({ id }) => id),
      PINNED_ORDER,
    );
  });

  test('deterministic, a permutation of the input, and independent of the input order', () => {
    const ids = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 0, maxLength: 8 });
    fc.assert(
      fc.property(fc.string(), ids, fc.nat(), (key, mirrorIds, rotation) => {
        const mirrors = mirrorsNamed(...mirrorIds);
        const order = orderMirrors(key, mirrors);
        assert.deepEqual(orderMirrors(key, mirrors), order);
        const byId = (a: Mirror, b: Mirror) => (a.id < b.id ? -1 : 1);
        assert.deepEqual([...order].sort(byId), [...mirrors].sort(byId));
        const shift = mirrors.length === 0 ? 0 : rotation % mirrors.length;
        const rotated = [...mirrors.slice(shift), ...mirrors.slice(0, shift)];
        assert.deepEqual(orderMirrors(key, rotated), order);
      }),
      { numRuns: 500 },
    );
  });

  test('keeps the caller\'s mirror objects and their other fields', () => {
    const mirrors = [
      { id: 'a', url: 'http://10.0.0.1/images' },
      { id: 'b', url: 'http://10.0.0.2/images' },
    ];
    const order = orderMirrors('52:54:00:00:00:01', mirrors);
    assert.ok(order.every((mirror) => mirrors.includes(mirror)));
    assert.ok(order[0]?.url.startsWith('http://'));
  });

  test('no mirrors, one mirror', () => {
    assert.deepEqual(orderMirrors('k', []), []);
    assert.deepEqual(orderMirrors('k', [{ id: 'only' }]), [{ id: 'only' }]);
  });

  test('1,000 machines over 4 equal mirrors: the busiest carries at most 1.15 times the mean', () => {
    const counts = [...countFirstChoices(machines, four).values()];
    const mean = machines.length / four.length;
    assert.ok(Math.max(...counts) / mean <= 1.15, `counts ${counts.join(', ')}`);
  });

  test('removing a mirror moves only the machines that were on it, and keeps every other order', () => {
    const without = four.filter(({ id }) => id !== 'mirror-c');
    let moved = 0;
    for (const key of machines) {
      const before = orderMirrors(key, four).map(({ id }) => id);
      const after = orderMirrors(key, without).map(({ id }) => id);
      assert.deepEqual(after, before.filter((id) => id !== 'mirror-c'));
      if (before[0] !== after[0]) {
        assert.equal(before[0], 'mirror-c');
        moved++;
      }
    }
    assert.equal(moved, countFirstChoices(machines, four).get('mirror-c'));
  });

  test('adding a mirror moves about 1/n of the machines, all onto the new one', () => {
    const five = [...four, { id: 'mirror-e' }];
    let moved = 0;
    for (const key of machines) {
      const before = firstChoice(key, four);
      const after = firstChoice(key, five);
      if (before !== after) {
        assert.equal(after, 'mirror-e');
        moved++;
      }
    }
    const share = moved / machines.length;
    assert.ok(share > 0.15 && share < 0.25, `moved ${moved} of ${machines.length}`);
  });

  test('weights are respected roughly proportionally', () => {
    const weighted: Mirror[] = [
      { id: 'small', weight: 1 },
      { id: 'medium', weight: 2 },
      { id: 'large', weight: 3 },
      { id: 'huge', weight: 4 },
    ];
    const keys = Array.from({ length: 4000 }, (_, index) => mac(index));
    const counts = countFirstChoices(keys, weighted);
    for (const { id, weight } of weighted) {
      const share = (counts.get(id) ?? 0) / keys.length;
      assert.ok(Math.abs(share - (weight ?? 1) / 10) < 0.03, `${id}: share ${share}`);
    }
  });

  test('scaling every weight by the same factor changes nothing', () => {
    const scaled = four.map((mirror) => ({ ...mirror, weight: 7.5 }));
    for (const key of machines.slice(0, 100)) {
      assert.deepEqual(
        orderMirrors(key, scaled).map(({ id }) => id),
        orderMirrors(key, four).map(({ id }) => id),
      );
    }
  });

  test('bad weights and duplicate ids are refused', () => {
    for (const weight of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => orderMirrors('k', [{ id: 'a', weight }]), RangeError);
    }
    assert.throws(() => orderMirrors('k', mirrorsNamed('a', 'b', 'a')), RangeError);
  });
});
