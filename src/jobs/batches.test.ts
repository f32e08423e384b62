import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { InvalidError } from '../core/errors.js';
import {
  hostsPerBatch,
  parseBatchSize,
  parseFailureThreshold,
  planBatches,
  shouldStop,
  type BatchSize,
  type FailureThreshold,
} from './batches.js';

const hosts = (count: number): string[] => Array.from({ length: count }, (_, i) => `host-${i + 1}`);
const count = (value: number): BatchSize => ({ kind: 'count', value });
const percent = (value: number): BatchSize => ({ kind: 'percent', value });

describe('parseBatchSize', () => {
  const valid: [string, BatchSize][] = [
    ['1', count(1)],
    ['5', count(5)],
    [' 7 ', count(7)],
    ['007', count(7)],
    ['1%', percent(1)],
    ['20%', percent(20)],
    ['100%', percent(100)],
  ];
  for (const [text, expected] of valid) {
    test(`'${text}'`, () => assert.deepEqual(parseBatchSize(text), expected));
  }

  const invalid = ['0', '0%', '101%', '-1', '1.5', '2.5%', 'abc', '', ' ', '%', '5 %', '5%%', '1e3'];
  invalid.push('99999999999999999999');
  for (const text of invalid) {
    test(`refuses '${text}'`, () => {
      assert.throws(
        () => parseBatchSize(text, 'rollout.batch'),
        (error: unknown) =>
          error instanceof InvalidError &&
          error.field === 'rollout.batch' &&
          error.message.startsWith(`rollout.batch: '${text}' is not a whole number of at least 1`),
      );
    });
  }
});

describe('parseFailureThreshold', () => {
  test('accepts zero and the full range', () => {
    assert.deepEqual(parseFailureThreshold('0'), count(0));
    assert.deepEqual(parseFailureThreshold('0%'), percent(0));
    assert.deepEqual(parseFailureThreshold('3'), count(3));
    assert.deepEqual(parseFailureThreshold('100%'), percent(100));
  });
  test('refuses values outside it', () => {
    for (const text of ['101%', '-1', 'x', '']) {
      assert.throws(() => parseFailureThreshold(text), { name: 'InvalidError', field: 'failure_threshold' });
    }
  });
});

describe('hostsPerBatch', () => {
  test('percentages round up and never fall below one host', () => {
    assert.equal(hostsPerBatch(percent(20), 10), 2);
    assert.equal(hostsPerBatch(percent(20), 11), 3);
    assert.equal(hostsPerBatch(percent(1), 5), 1);
    assert.equal(hostsPerBatch(percent(33), 3), 1);
    assert.equal(hostsPerBatch(percent(34), 3), 2);
    assert.equal(hostsPerBatch(percent(100), 7), 7);
    assert.equal(hostsPerBatch(percent(50), 0), 1);
  });
  test('counts are taken as they are', () => {
    assert.equal(hostsPerBatch(count(5), 2), 5);
  });
});

describe('planBatches', () => {
  test('no hosts, no batches', () => {
    assert.deepEqual(planBatches([], count(3)), []);
    assert.deepEqual(planBatches([], percent(100)), []);
  });
  test('100% is one batch', () => {
    assert.deepEqual(planBatches(hosts(4), percent(100)), [hosts(4)]);
  });
  test('a size bigger than the hosts is one batch', () => {
    assert.deepEqual(planBatches(hosts(3), count(10)), [hosts(3)]);
  });
  test('the last batch takes the remainder, in order', () => {
    const batches = planBatches(['a', 'b', 'c', 'd', 'e', 'f', 'g'], count(3));
    assert.deepEqual(batches, [['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
  });
  test('a percentage is of all hosts and rounds up', () => {
    assert.deepEqual(planBatches(['a', 'b', 'c', 'd', 'e'], percent(30)), [['a', 'b'], ['c', 'd'], ['e']]);
  });
  test('one host at a time', () => {
    assert.deepEqual(planBatches(['a', 'b'], count(1)), [['a'], ['b']]);
  });
  test('a host listed twice is refused', () => {
    assert.throws(() => planBatches(['a', 'b', 'a'], count(2)), {
      name: 'InvalidError',
      message: /'a' is listed more than once/,
    });
  });

  test('property: batches cover the hosts once, in order, all full but the last', () => {
    const sizeArb: fc.Arbitrary<BatchSize> = fc.oneof(
      fc.integer({ min: 1, max: 50 }).map(count),
      fc.integer({ min: 1, max: 100 }).map(percent),
    );
    fc.assert(
      fc.property(fc.uniqueArray(fc.string(), { maxLength: 60 }), sizeArb, (list, size) => {
        const batches = planBatches(list, size);
        const per = hostsPerBatch(size, list.length);
        assert.deepEqual(batches.flat(), list);
        assert.equal(batches.length, Math.ceil(list.length / per));
        batches.forEach((batch, i) => {
          assert.ok(batch.length > 0);
          if (i < batches.length - 1) assert.equal(batch.length, per);
          else assert.ok(batch.length <= per);
        });
      }),
      { numRuns: 1000 },
    );
  });
});

describe('shouldStop', () => {
  const stop = (failed: number, total: number, threshold: FailureThreshold, finished = total): boolean =>
    shouldStop({ failed, finished, total }, threshold);

  test('a count tolerates that many failures and stops on the next', () => {
    assert.equal(stop(2, 10, count(2)), false);
    assert.equal(stop(3, 10, count(2)), true);
  });
  test('zero stops on the first failure', () => {
    assert.equal(stop(0, 10, count(0)), false);
    assert.equal(stop(1, 10, count(0)), true);
    assert.equal(stop(1, 10, percent(0)), true);
  });
  test('a percentage stops only when the failed share EXCEEDS it', () => {
    assert.equal(stop(2, 20, percent(10)), false);
    assert.equal(stop(3, 20, percent(10)), true);
    assert.equal(stop(1, 4, percent(25)), false);
    assert.equal(stop(2, 4, percent(25)), true);
    assert.equal(stop(1, 3, percent(33)), true);
    assert.equal(stop(1, 3, percent(34)), false);
  });
  test('the share is of all hosts in scope, not of those finished so far', () => {
    assert.equal(stop(1, 10, percent(20), 1), false);
  });
  test('100% never stops', () => {
    assert.equal(stop(10, 10, percent(100)), false);
  });
  test('no hosts, no stop', () => {
    assert.equal(stop(0, 0, percent(0)), false);
    assert.equal(stop(0, 0, count(0)), false);
  });
  test('inconsistent progress is a programming error', () => {
    assert.throws(() => shouldStop({ failed: 2, finished: 1, total: 5 }, count(0)), RangeError);
    assert.throws(() => shouldStop({ failed: 0, finished: 6, total: 5 }, count(0)), RangeError);
    assert.throws(() => shouldStop({ failed: -1, finished: 0, total: 5 }, count(0)), RangeError);
    assert.throws(() => shouldStop({ failed: 0.5, finished: 1, total: 5 }, count(0)), RangeError);
  });

  test('property: a percentage agrees with exact rational comparison and is monotone in failures', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10_000 }).chain((total) =>
          fc.tuple(fc.constant(total), fc.integer({ min: 0, max: total }), fc.integer({ min: 0, max: 100 })),
        ),
        ([total, failed, value]) => {
          const stops = stop(failed, total, percent(value));
          assert.equal(stops, BigInt(failed) * 100n > BigInt(value) * BigInt(total));
          if (stops && failed < total) assert.ok(stop(failed + 1, total, percent(value)));
          if (value === 100) assert.equal(stops, false);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
