import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConflictError } from '../core/errors.js';
import {
  IllegalTransitionError,
  LIFECYCLE_EVENTS,
  LIFECYCLE_STATES,
  LIFECYCLE_TRANSITIONS,
  allowedEvents,
  renderLifecycleTableMarkdown,
  transition,
  type LifecycleEvent,
  type LifecycleState,
} from './lifecycle.js';

/** The designed machine, written out independently of the table so that any change to it is deliberate. */
const EXPECTED: [LifecycleState, LifecycleEvent, LifecycleState][] = [
  ['discovered', 'accept', 'planned'],
  ['discovered', 'reject', 'decommissioned'],
  ['discovered', 'check_in', 'discovered'],
  ['discovered', 'decommission', 'decommissioned'],
  ['planned', 'boot', 'booting'],
  ['planned', 'check_in', 'configuring'],
  ['planned', 'decommission', 'decommissioned'],
  ['booting', 'check_in', 'configuring'],
  ['booting', 'boot_failed', 'failed'],
  ['booting', 'decommission', 'decommissioned'],
  ['configuring', 'configured', 'active'],
  ['configuring', 'configuration_failed', 'failed'],
  ['configuring', 'check_in', 'configuring'],
  ['configuring', 'decommission', 'decommissioned'],
  ['active', 'boot', 'booting'],
  ['active', 'check_in', 'configuring'],
  ['active', 'enter_maintenance', 'maintenance'],
  ['active', 'decommission', 'decommissioned'],
  ['failed', 'boot', 'booting'],
  ['failed', 'check_in', 'configuring'],
  ['failed', 'retry', 'configuring'],
  ['failed', 'enter_maintenance', 'maintenance'],
  ['failed', 'decommission', 'decommissioned'],
  ['maintenance', 'boot', 'booting'],
  ['maintenance', 'check_in', 'maintenance'],
  ['maintenance', 'leave_maintenance', 'configuring'],
  ['maintenance', 'decommission', 'decommissioned'],
  ['decommissioned', 'recommission', 'planned'],
];

const expectedNext = new Map(EXPECTED.map(([from, event, to]) => [`${from} ${event}`, to]));

describe('lifecycle table', () => {
  for (const [from, event, to] of EXPECTED) {
    test(`${from} --${event}--> ${to}`, () => assert.equal(transition(from, event), to));
  }

  test('the table holds exactly the designed transitions, each (state, event) once', () => {
    const actual = LIFECYCLE_TRANSITIONS.flatMap((row) => row.from.map((from) => `${from} ${row.event} ${row.to}`));
    assert.equal(new Set(actual).size, actual.length);
    assert.deepEqual(actual.sort(), EXPECTED.map((entry) => entry.join(' ')).sort());
  });

  test('every row says why it exists', () => {
    for (const row of LIFECYCLE_TRANSITIONS) assert.ok(row.why.length > 20, row.event);
  });

  test('decommission applies everywhere except decommissioned', () => {
    for (const state of LIFECYCLE_STATES) {
      assert.equal(allowedEvents(state).includes('decommission'), state !== 'decommissioned', state);
    }
  });

  test('allowedEvents lists events in declaration order', () => {
    assert.deepEqual(allowedEvents('discovered'), ['accept', 'reject', 'check_in', 'decommission']);
    assert.deepEqual(allowedEvents('failed'), ['boot', 'check_in', 'retry', 'enter_maintenance', 'decommission']);
    assert.deepEqual(allowedEvents('decommissioned'), ['recommission']);
  });
});

describe('illegal transitions', () => {
  for (const state of LIFECYCLE_STATES) {
    for (const event of LIFECYCLE_EVENTS) {
      if (expectedNext.has(`${state} ${event}`)) continue;
      test(`${state} refuses ${event}`, () => {
        assert.throws(
          () => transition(state, event),
          (error: unknown) => {
            assert.ok(error instanceof IllegalTransitionError);
            assert.ok(error instanceof ConflictError);
            assert.equal(error.status, 409);
            assert.equal(error.state, state);
            assert.equal(error.event, event);
            assert.deepEqual(error.allowed, allowedEvents(state));
            assert.match(error.message, new RegExp(`'${event}'.*'${state}'`));
            assert.ok(error.message.endsWith(`allowed events: ${allowedEvents(state).join(', ')}`), error.message);
            return true;
          },
        );
      });
    }
  }

  test('the message reads well', () => {
    assert.throws(
      () => transition('active', 'configured'),
      {
        message:
          "event 'configured' does not apply to a machine in state 'active'; " +
          'allowed events: boot, check_in, enter_maintenance, decommission',
      },
    );
  });
});

describe('renderLifecycleTableMarkdown', () => {
  const markdown = renderLifecycleTableMarkdown();
  const lines = markdown.trimEnd().split('\n');

  test('has a header and one line per row', () => {
    assert.equal(lines[0], '| Event | From | To | Why |');
    assert.equal(lines[1], '| --- | --- | --- | --- |');
    assert.equal(lines.length, LIFECYCLE_TRANSITIONS.length + 2);
    assert.ok(markdown.endsWith('|\n'));
  });

  test('renders a row with its sources, target and reason', () => {
    const why = 'An operator or a matching rule accepted a discovered machine into the inventory.';
    assert.equal(lines[2], `| \`accept\` | \`discovered\` | \`planned\` | ${why} |`);
    const boot = '| `boot` | `planned`, `active`, `failed`, `maintenance` | `booting` |';
    assert.ok(lines.some((line) => line.startsWith(boot)));
  });

  test('every row has four cells', () => {
    for (const line of lines) assert.equal(line.split(/(?<!\\)\|/).length, 6, line);
  });

  test('escapes pipes and folds line breaks in reasons', () => {
    const rendered = renderLifecycleTableMarkdown([
      { event: 'retry', from: ['failed'], to: 'configuring', why: 'a | b\nc \\ d' },
    ]);
    assert.equal(rendered.split('\n')[2], '| `retry` | `failed` | `configuring` | a \\| b c \\\\ d |');
  });
});

describe('lifecycle properties', () => {
  /** States reachable from `start` by following the table. */
  function reachable(start: LifecycleState): Set<LifecycleState> {
    const seen = new Set<LifecycleState>([start]);
    const queue = [start];
    for (let state = queue.shift(); state !== undefined; state = queue.shift()) {
      for (const event of allowedEvents(state)) {
        const next = transition(state, event);
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    return seen;
  }

  const stateArb = fc.constantFrom(...LIFECYCLE_STATES);
  const eventArb = fc.constantFrom(...LIFECYCLE_EVENTS);

  test('every state is reachable from discovered', () => {
    const fromDiscovered = reachable('discovered');
    fc.assert(fc.property(stateArb, (state) => fromDiscovered.has(state)));
    assert.deepEqual([...fromDiscovered].sort(), [...LIFECYCLE_STATES].sort());
  });

  test('decommissioned is reachable from every state', () => {
    fc.assert(fc.property(stateArb, (state) => reachable(state).has('decommissioned')));
  });

  test('a recommissioned machine can reach every state but discovered, which is only ever an entry state', () => {
    const fromDecommissioned = reachable('decommissioned');
    assert.deepEqual([...LIFECYCLE_STATES].filter((state) => !fromDecommissioned.has(state)), ['discovered']);
  });

  test('random event sequences: an event succeeds exactly when it is allowed, and never strands a machine', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 60 }), (events) => {
        let state: LifecycleState = 'discovered';
        for (const event of events) {
          const allowed = allowedEvents(state).includes(event);
          try {
            state = transition(state, event);
            assert.ok(allowed, `${event} succeeded but is not allowed`);
          } catch (error) {
            assert.ok(error instanceof IllegalTransitionError && !allowed, String(error));
          }
          assert.ok(reachable(state).has('decommissioned'));
        }
      }),
      { numRuns: 500 },
    );
  });
});
