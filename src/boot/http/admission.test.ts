import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../core/clock.js';
import { AdmissionGate, SATURATION_PRESSURE, type Admission } from './admission.js';

function gate(limit: number, random: () => number = () => 0.5, clock = new ManualClock()): AdmissionGate {
  return new AdmissionGate({ limit, retryAfterSeconds: { min: 2, max: 30 }, random, clock });
}

function admitted(admission: Admission): { release(): void } {
  assert.ok(admission.admitted, 'expected admission');
  return admission;
}

describe('AdmissionGate', () => {
  test('admits up to the limit, refuses beyond it, and admits again after a release', () => {
    const g = gate(2);
    const a = admitted(g.tryAcquire());
    const b = admitted(g.tryAcquire());
    const refused = g.tryAcquire();
    assert.equal(refused.admitted, false);
    assert.equal(g.inFlight, 2);
    a.release();
    assert.equal(g.inFlight, 1);
    const c = admitted(g.tryAcquire());
    b.release();
    c.release();
    assert.deepEqual([g.inFlight, g.peak, g.admitted, g.refused], [0, 2, 3, 1]);
  });

  test('a second release of the same admission changes nothing', () => {
    const g = gate(1);
    const a = admitted(g.tryAcquire());
    a.release();
    a.release();
    assert.equal(g.inFlight, 0);
    const b = admitted(g.tryAcquire());
    a.release();
    assert.equal(g.inFlight, 1, "a's late release must not free b's slot");
    b.release();
    assert.equal(g.inFlight, 0);
  });

  test('Retry-After stays near min under light pressure and spreads to max under heavy pressure', () => {
    const clock = new ManualClock();
    const g = gate(10, () => 0.999, clock);
    for (let index = 0; index < 10; index++) g.tryAcquire();
    const first = g.tryAcquire();
    assert.ok(!first.admitted);
    // One refusal against a limit of 10: the ceiling is min + 28 * 1/40, so the highest draw is still min.
    assert.equal(first.retryAfterSeconds, 2);
    let last: Admission = first;
    for (let index = 0; index < SATURATION_PRESSURE * 10; index++) last = g.tryAcquire();
    assert.ok(!last.admitted);
    assert.equal(last.retryAfterSeconds, 30);
    // Pressure decays: after several windows of quiet the answer is back near min.
    clock.advance(10 * 30 * 1000);
    const calm = g.tryAcquire();
    assert.ok(!calm.admitted);
    assert.equal(calm.retryAfterSeconds, 2);
  });

  test('a random source at 0 always gives min', () => {
    const g = gate(1, () => 0);
    g.tryAcquire();
    for (let index = 0; index < 100; index++) {
      const refused = g.tryAcquire();
      assert.ok(!refused.admitted);
      assert.equal(refused.retryAfterSeconds, 2);
    }
  });

  test('bad options are refused', () => {
    const clock = new ManualClock();
    const random = () => 0;
    assert.throws(() => new AdmissionGate({ limit: 0, retryAfterSeconds: { min: 1, max: 2 }, random, clock }), RangeError);
    assert.throws(() => new AdmissionGate({ limit: 1.5, retryAfterSeconds: { min: 1, max: 2 }, random, clock }), RangeError);
    assert.throws(() => new AdmissionGate({ limit: 1, retryAfterSeconds: { min: 0, max: 2 }, random, clock }), RangeError);
    assert.throws(() => new AdmissionGate({ limit: 1, retryAfterSeconds: { min: 3, max: 2 }, random, clock }), RangeError);
  });
});

describe('AdmissionGate properties', () => {
  type Step = { kind: 'acquire' } | { kind: 'release'; pick: number } | { kind: 'again'; pick: number } | { kind: 'wait'; ms: number };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.constant({ kind: 'acquire' as const }),
    fc.nat().map((pick) => ({ kind: 'release' as const, pick })),
    fc.nat().map((pick) => ({ kind: 'again' as const, pick })),
    fc.integer({ min: 0, max: 60_000 }).map((ms) => ({ kind: 'wait' as const, ms })),
  );

  test('inFlight never exceeds the limit, matches the unreleased admissions, and returns to 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(step, { maxLength: 200 }),
        fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { minLength: 1, maxLength: 20 }),
        (limit, steps, randoms) => {
          let draw = 0;
          const clock = new ManualClock();
          const g = new AdmissionGate({
            limit,
            retryAfterSeconds: { min: 1, max: 20 },
            random: () => randoms[draw++ % randoms.length]!,
            clock,
          });
          const held: { release(): void }[] = [];
          const released: { release(): void }[] = [];
          let peak = 0;
          let attempts = 0;
          for (const s of steps) {
            if (s.kind === 'acquire') {
              attempts++;
              const admission = g.tryAcquire();
              if (admission.admitted) {
                held.push(admission);
              } else {
                assert.equal(held.length, limit, 'refused only when full');
                assert.ok(Number.isInteger(admission.retryAfterSeconds));
                assert.ok(admission.retryAfterSeconds >= 1 && admission.retryAfterSeconds <= 20);
              }
            } else if (s.kind === 'release' && held.length > 0) {
              const [done] = held.splice(s.pick % held.length, 1);
              done!.release();
              released.push(done!);
            } else if (s.kind === 'again' && released.length > 0) {
              released[s.pick % released.length]!.release();
            } else if (s.kind === 'wait') {
              clock.advance(s.ms);
            }
            peak = Math.max(peak, held.length);
            assert.ok(g.inFlight <= limit);
            assert.equal(g.inFlight, held.length);
          }
          assert.equal(g.peak, peak);
          assert.equal(g.admitted + g.refused, attempts);
          for (const admission of held) admission.release();
          for (const admission of held) admission.release();
          assert.equal(g.inFlight, 0);
        },
      ),
      { numRuns: 1000 },
    );
  });

  describe('waiting in line', () => {
    const patientGate = (limit: number, maxWaiting: number) =>
      new AdmissionGate({ limit, maxWaiting, retryAfterSeconds: { min: 2, max: 30 }, random: () => 0.5, clock: new ManualClock() });

    test('a release hands the slot to the first in line, never beyond the limit', async () => {
      const g = patientGate(1, 2);
      const first = admitted(g.tryAcquire());
      const order: string[] = [];
      const second = g.acquire(10_000).then((a) => (order.push('second'), admitted(a)));
      const third = g.acquire(10_000).then((a) => (order.push('third'), admitted(a)));
      assert.equal(g.queued, 2);
      assert.equal(g.tryAcquire().admitted, false, 'a client that retries by itself does not jump the line');
      assert.equal((await g.acquire(10_000)).admitted, false, 'the line is full');
      first.release();
      (await second).release();
      (await third).release();
      assert.deepEqual(order, ['second', 'third']);
      assert.deepEqual([g.inFlight, g.peak, g.queued], [0, 1, 0]);
    });

    test('the wait runs out, or the client goes away, and the slot is not lost', async () => {
      const g = patientGate(1, 4);
      const held = admitted(g.tryAcquire());
      const timedOut = await g.acquire(20);
      assert.equal(timedOut.admitted, false);
      const controller = new AbortController();
      const abandoned = g.acquire(10_000, controller.signal);
      controller.abort();
      assert.equal((await abandoned).admitted, false);
      assert.equal(g.queued, 0);
      held.release();
      assert.equal(g.inFlight, 0);
      admitted(await g.acquire(0)).release();
    });
  });
});
