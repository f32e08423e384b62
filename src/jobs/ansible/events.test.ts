/**
 * The fixtures are real output of ansible-core 2.14 with the ansible.posix jsonl callback, captured with
 * runPlaybook from fixtures/linear.yml (h1 and h2 with ansible_connection=local, h1 holding the var
 * `literal: '{{ 6 * 7 }}'`, h3 an ssh host at 127.0.0.1 port 1, which refuses) and fixtures/free.yml (h1 and h2,
 * local); the stdout lines only, written one a line.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { failureMessage, MAX_MESSAGE_LENGTH, parseEventLine, type AnsibleEvent } from './events.js';
import { LineSplitter } from './lines.js';
import { createRunFold, foldLines, type HostSummary, type RunSummary } from './summary.js';

const fixture = (name: string): string => readFileSync(new URL(`../../../../src/jobs/ansible/fixtures/${name}`, import.meta.url), 'utf8');
const linesOf = (text: string): string[] => text.split('\n').filter((line) => line !== '');
const LINEAR = fixture('linear.jsonl');
const FREE = fixture('free.jsonl');

const eventsOf = (text: string): AnsibleEvent[] =>
  linesOf(text).flatMap((line) => {
    const parsed = parseEventLine(line);
    return parsed.kind === 'event' ? [parsed.event] : [];
  });
const host = (summary: RunSummary, name: string): HostSummary | undefined => summary.hosts.find((entry) => entry.host === name);

describe('the linear fixture', () => {
  const summary = foldLines(linesOf(LINEAR));

  test('folds into the recap Ansible printed, with the reason each host stopped', () => {
    assert.deepEqual(summary, {
      hosts: [
        { host: 'h1', status: 'changed', ok: 7, changed: 1, failed: 0, unreachable: 0, skipped: 1, rescued: 1, ignored: 1 },
        {
          host: 'h2',
          status: 'failed',
          ok: 2,
          changed: 0,
          failed: 1,
          unreachable: 0,
          skipped: 2,
          rescued: 0,
          ignored: 0,
          failure: {
            task: 'loop with a failed item',
            path: '/work/main/src/jobs/ansible/fixtures/linear.yml:25',
            action: 'command',
            message: 'item 2: non-zero return code',
            unreachable: false,
          },
        },
        {
          host: 'h3',
          status: 'unreachable',
          ok: 1,
          changed: 0,
          failed: 0,
          unreachable: 1,
          skipped: 0,
          rescued: 0,
          ignored: 0,
          failure: {
            task: 'change on h1',
            path: '/work/main/src/jobs/ansible/fixtures/linear.yml:8',
            action: 'command',
            message: 'Failed to connect to the host via ssh: ssh: connect to host 127.0.0.1 port 1: Connection refused',
            unreachable: true,
          },
        },
      ],
      statsSeen: true,
      plays: 1,
      garbageLines: 2, // the pause module's prompt, in plain text on stdout
      unknownEvents: 0,
    });
  });

  test('types each event: play, tasks, a handler, per-host results with status, stats', () => {
    const events = eventsOf(LINEAR);
    assert.equal(events[0]?.kind, 'play_start');
    assert.equal(events.at(-1)?.kind, 'stats');
    assert.equal(events.length, linesOf(LINEAR).length - 2, 'every line but the two of plain text is an event');
    const starts = events.filter((event) => event.kind === 'task_start');
    assert.deepEqual(
      starts.map((event) => event.kind === 'task_start' && `${event.task.name}${event.handler ? ' (handler)' : ''}`),
      ['say the literal var', 'change on h1', 'ignored failure', 'rescued failure', 'rescue task', 'short pause', 'loop with a failed item', 'after the loop', 'after change (handler)'],
    );
    // Within a task, hosts report in the order their forks finish.
    const results = events.flatMap((event) => (event.kind === 'host_result' ? [`${event.task.name}/${event.host}: ${event.status}`] : []));
    assert.deepEqual(results.sort(), [
      'say the literal var/h3: ok',
      'say the literal var/h1: ok',
      'say the literal var/h2: ok',
      'change on h1/h3: unreachable',
      'change on h1/h2: ok',
      'change on h1/h1: changed',
      'ignored failure/h2: skipped',
      'ignored failure/h1: failed',
      'rescued failure/h2: skipped',
      'rescued failure/h1: failed',
      'rescue task/h1: ok',
      'short pause/h1: ok',
      'loop with a failed item/h1: skipped',
      'loop with a failed item/h2: failed',
      'after the loop/h1: ok',
      'after change/h1: ok',
    ].sort());
    const literal = events.find((event) => event.kind === 'host_result' && event.host === 'h1' && event.task.name === 'say the literal var');
    assert.equal(literal?.kind === 'host_result' && literal.result['msg'], '{{ 6 * 7 }}', 'an !unsafe inventory var reaches the play untemplated');
    const ignored = events.find((event) => event.kind === 'host_result' && event.task.name === 'ignored failure' && event.host === 'h1');
    assert.equal(ignored?.kind === 'host_result' && ignored.message, 'ignored boom');
  });

  test('cut off before the stats, counters come from the events and cannot tell ignored or rescued failures', () => {
    const lines = linesOf(LINEAR);
    const cut = foldLines(lines.slice(0, -1));
    assert.equal(cut.statsSeen, false);
    const h1 = host(cut, 'h1');
    assert.deepEqual(
      h1 && { status: h1.status, ok: h1.ok, changed: h1.changed, failed: h1.failed, rescued: h1.rescued, ignored: h1.ignored },
      { status: 'failed', ok: 6, changed: 1, failed: 2, rescued: 0, ignored: 0 },
    );
    assert.equal(h1?.failure?.task, 'rescued failure', 'the last failure is the reason');
    assert.equal(host(cut, 'h3')?.status, 'unreachable');
  });
});

describe('the free-strategy fixture', () => {
  test('start events per host without a host name, results per host', () => {
    const events = eventsOf(FREE);
    assert.equal(events.filter((event) => event.kind === 'task_start').length, 5);
    assert.ok(events.every((event) => event.kind !== 'task_start' || !event.handler), 'free strategy sends no handler start');
    const summary = foldLines(linesOf(FREE));
    assert.equal(summary.garbageLines, 0);
    assert.deepEqual(
      summary.hosts.map((entry) => [entry.host, entry.status, entry.ok, entry.changed, entry.failed, entry.failure?.message]),
      [
        ['h1', 'changed', 2, 1, 0, undefined],
        ['h2', 'failed', 1, 1, 1, 'h2 fails on purpose'],
      ],
    );
  });
});

describe('robustness', () => {
  const whole = foldLines(linesOf(LINEAR));

  test('property: chunked anywhere, the stream folds as it does whole', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(LINEAR.length), { maxLength: 40 }), (cuts) => {
        const splitter = new LineSplitter();
        const fold = createRunFold();
        let from = 0;
        for (const to of [...cuts].sort((a, b) => a - b)) {
          for (const line of splitter.push(LINEAR.slice(from, to))) fold.addLine(line);
          from = to;
        }
        for (const line of [...splitter.push(LINEAR.slice(from)), ...splitter.end()]) fold.addLine(line);
        assert.deepEqual(fold.summary(), whole);
      }),
      { numRuns: 300 },
    );
  });

  const garbage = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }).filter((line) => !line.includes('\n') && line.trim() !== ''),
    fc.json().filter((text) => !text.includes('\n') && text.trim() !== '' && !/^\s*\{"_event"/.test(text)),
    fc.constantFrom('{', '{"_event": 7}', '{"_event":"v2_runner_on_ok"}', '{"_event":"v2_runner_on_ok","task":{"id":"x","name":"y"},"hosts":{}}', '[]', 'null', '"x"'),
  );

  test('property: garbage lines anywhere are counted and change no host', () => {
    const lines = linesOf(LINEAR);
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(lines.length), garbage.filter((line) => parseEventLine(line).kind === 'garbage')), { maxLength: 10 }), (inserts) => {
        const mixed = [...lines];
        for (const [at, line] of [...inserts].sort((a, b) => b[0] - a[0])) mixed.splice(at, 0, line);
        const summary = foldLines(mixed);
        assert.deepEqual(summary.hosts, whole.hosts);
        assert.equal(summary.garbageLines, whole.garbageLines + inserts.length);
      }),
      { numRuns: 300 },
    );
  });

  test('unknown events are counted, not thrown', () => {
    const fold = createRunFold();
    const event = fold.addLine('{"_event":"v2_runner_retry","hosts":{"h1":{}}}');
    assert.deepEqual(event, { kind: 'unknown', name: 'v2_runner_retry' });
    assert.equal(fold.summary().unknownEvents, 1);
  });

  test('property: any line, and any prefix of a real line, parses without throwing', () => {
    const lines = linesOf(LINEAR);
    fc.assert(
      fc.property(fc.oneof(garbage, fc.string({ unit: 'binary' })), fc.nat(), fc.nat(), (line, pick, cut) => {
        const kind = parseEventLine(line).kind;
        assert.ok(kind === 'garbage' || kind === 'blank' || kind === 'event');
        const real = lines[pick % lines.length]!;
        const prefix = real.slice(0, cut % real.length);
        assert.notEqual(parseEventLine(prefix).kind, 'event', 'a cut-off line is never an event');
      }),
      { numRuns: 2000 },
    );
  });

  test('stats with odd counters count them as 0', () => {
    const summary = foldLines(['{"_event":"v2_playbook_on_stats","stats":{"h1":{"ok":"3","failures":-1,"changed":1.5,"skipped":2},"h2":null}}']);
    assert.deepEqual(
      summary.hosts.map((entry) => [entry.host, entry.status, entry.ok, entry.failed, entry.changed, entry.skipped]),
      [
        ['h1', 'skipped', 0, 0, 0, 2],
        ['h2', 'skipped', 0, 0, 0, 0],
      ],
    );
  });
});

describe('failureMessage', () => {
  test('msg, then the command or module stderr', () => {
    assert.equal(failureMessage({ msg: 'non-zero return code', stderr: 'rm: cannot remove x\n', rc: 1 }), 'non-zero return code: rm: cannot remove x');
    assert.equal(failureMessage({ msg: 'MODULE FAILURE\nSee stdout/stderr for the exact error', module_stderr: 'Traceback' }), 'MODULE FAILURE\nSee stdout/stderr for the exact error: Traceback');
    assert.equal(failureMessage({}), 'failed without a message');
    const censored = "the output has been hidden due to the fact that 'no_log: true' was specified for this result";
    assert.equal(failureMessage({ action: 'fail', censored, changed: false, failed: true }), censored);
    assert.equal(failureMessage({ msg: ['not', 'text'] }), 'failed without a message');
  });

  test('a loop names its first failed item', () => {
    const result = {
      msg: 'One or more items failed',
      results: [
        { failed: false, item: 'a', msg: '' },
        { failed: true, item: 'b', _ansible_item_label: 'b', msg: 'no such package', stderr: '' },
        { failed: true, item: 'c', msg: 'later' },
      ],
    };
    assert.equal(failureMessage(result), 'item "b": no such package');
  });

  test('long messages are cut', () => {
    const message = failureMessage({ msg: 'x'.repeat(5000) });
    assert.equal(message.length, MAX_MESSAGE_LENGTH);
    assert.ok(message.endsWith('…'));
  });
});
