/**
 * Runs the real ansible-playbook (Debian's, ansible-core 2.14, with ansible.posix) against hosts that all use
 * `ansible_connection: local`, so no network is needed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { InvalidError } from '../src/core/errors.js';
import type { AnsibleEvent } from '../src/jobs/ansible/events.js';
import type { InventoryHost } from '../src/jobs/ansible/inventory.js';
import { runPlaybook, type LogLine, type PlaybookRun } from '../src/jobs/ansible/runner.js';

const LOCAL = { ansible_connection: 'local', ansible_python_interpreter: '/usr/bin/python3' };
const localHosts = (count: number): InventoryHost[] =>
  Array.from({ length: count }, (_, i) => ({ name: `h${i + 1}`, vars: { ...LOCAL, literal: `{{ lookup('pipe', 'id') }} on h${i + 1}` }, groups: ['lab'] }));

interface Member {
  readonly pid: number;
  readonly state: string;
  readonly command: string;
}

/** Live (not zombie) processes whose process group is `pgid`, read from /proc. */
function groupMembers(pgid: number): Member[] {
  const members: Member[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command, which is in parentheses and may hold spaces: state, ppid, pgrp, ...
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) !== pgid || state === 'Z') continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      members.push({ pid: Number(entry), state: state ?? '', command });
    } catch {
      // The process ended while we looked.
    }
  }
  return members;
}

/** Waits up to a second for the group to empty (SIGKILL takes effect asynchronously), then asserts it is. */
async function assertGroupGone(run: PlaybookRun): Promise<void> {
  assert.ok(run.pid !== undefined);
  for (let i = 0; i < 20 && groupMembers(run.pid).length > 0; i++) await sleep(50);
  assert.deepEqual(groupMembers(run.pid), [], 'no process of the run is left');
}

/** Samples the sleep commands running in the run's process group, until stopped. */
function watchSleepers(runPid: () => number | undefined): { seen: Set<string>; stop: () => void } {
  const seen = new Set<string>();
  const timer = setInterval(() => {
    const pid = runPid();
    if (pid === undefined) return;
    for (const member of groupMembers(pid)) if (/sleep/.test(member.command) && !/ansible|AnsiballZ/.test(member.command)) seen.add(member.command);
  }, 100);
  return { seen, stop: () => clearInterval(timer) };
}

let dir: string;
const playbook = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'hangar-runner-test-'));
});
after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('runPlaybook', () => {
  test('per-host results, exit 2 mapped to failed, --limit, literal vars, live lines, cleanup', async () => {
    const path = playbook(
      'site.yml',
      `- name: runner test
  hosts: all
  gather_facts: false
  tasks:
    - name: show what arrived
      debug:
        msg: ["{{ inventory_file }}", "{{ shell_text }}", "{{ literal }}"]
    - name: change on h3
      command: sleep 1
      changed_when: inventory_hostname == 'h3'
    - name: fail on h2
      fail: { msg: "h2 fails on purpose" }
      when: inventory_hostname == 'h2'
`,
    );
    const lines: LogLine[] = [];
    const events: AnsibleEvent[] = [];
    const shellText = `$(touch ${dir}/pwned) '; rm -rf "$HOME" #`;
    const run = await runPlaybook({
      playbook: path,
      inventory: { hosts: localHosts(4) },
      limit: ['h1', 'h2', 'h3'],
      extraVars: { shell_text: shellText },
      forks: 3,
      onLine: (line) => lines.push(line),
      onEvent: (event) => events.push(event),
    });

    assert.equal(run.outcome, 'failed', run.log.map((line) => line.text).join('\n'));
    assert.equal(run.exitCode, 2);
    assert.equal(run.signal, null);
    assert.equal(run.timedOut || run.cancelled, false);
    assert.equal(run.statsSeen, true);
    assert.deepEqual(
      run.hosts.map((host) => [host.host, host.status, host.ok, host.changed, host.failed, host.skipped]),
      [
        ['h1', 'ok', 2, 0, 0, 1],
        ['h2', 'failed', 2, 0, 1, 0],
        ['h3', 'changed', 2, 1, 0, 1],
      ],
      'h4 is outside the limit',
    );
    assert.deepEqual(run.hosts[1]?.failure, { task: 'fail on h2', path: `${path}:11`, action: 'fail', message: 'h2 fails on purpose', unreachable: false });
    assert.equal(run.hosts[0]?.failure, undefined);

    const shown = events.find((event) => event.kind === 'host_result' && event.host === 'h1' && event.task.name === 'show what arrived');
    assert.ok(shown?.kind === 'host_result');
    const [inventoryFile, extra, literal] = shown.result['msg'] as string[];
    assert.equal(extra, shellText, 'extra vars arrive as data, never through a shell');
    assert.equal(literal, "{{ lookup('pipe', 'id') }} on h1", 'inventory strings are not templated');
    assert.ok(!existsSync(join(dir, 'pwned')));
    assert.ok(inventoryFile && !existsSync(dirname(inventoryFile)), 'the run directory is removed');

    assert.deepEqual(lines, run.log, 'every line went to onLine, in order');
    assert.equal(events.filter((event) => event.kind === 'host_result').length, 9, 'three tasks on three hosts');
    const stdoutAt = (pattern: RegExp): number => run.log.find((line) => line.stream === 'stdout' && pattern.test(line.text))?.at ?? Number.NaN;
    assert.ok(stdoutAt(/v2_playbook_on_stats/) - stdoutAt(/v2_playbook_on_play_start/) >= 900, 'lines arrive as they are written, not at the end');
    await assertGroupGone(run);
  });

  test('a timeout stops the whole process group, even a command that ignores SIGTERM', async () => {
    const path = playbook(
      'slow.yml',
      `- hosts: all
  gather_facts: false
  tasks:
    - name: sleep
      command: "{{ sleeper }}"
`,
    );
    let pid: number | undefined;
    const watch = watchSleepers(() => pid);
    const hosts: InventoryHost[] = [
      { name: 'h1', vars: { ...LOCAL, sleeper: 'sleep 30' } },
      { name: 'h2', vars: { ...LOCAL, sleeper: `/usr/bin/python3 -c "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(30)"` } },
    ];
    const started = Date.now();
    // Long enough for Ansible to reach the sleeps on a loaded CI machine; far below their 30 s.
    const run = await runPlaybook({ playbook: path, inventory: { hosts }, timeoutMs: 12_000, killGraceMs: 3000, onSpawn: (spawned) => (pid = spawned) });
    const elapsed = Date.now() - started;
    watch.stop();

    assert.equal(run.outcome, 'timed_out');
    assert.equal(run.timedOut, true);
    assert.equal(run.cancelled, false);
    assert.equal(run.exitCode, null);
    assert.equal(run.signal, 'SIGTERM');
    assert.ok(elapsed < 12_000 + 3000 + 5000, `stopped by the timeout and the kill, not by the sleeps ending (${elapsed} ms)`);
    assert.ok([...watch.seen].some((command) => command.includes('sleep 30')), `the sleep was running: ${[...watch.seen].join(' | ')}`);
    assert.ok([...watch.seen].some((command) => command.includes('time.sleep(30)')), 'the SIGTERM-proof sleep was running');
    await assertGroupGone(run);
  });

  test('an AbortSignal cancels the run', async () => {
    const path = playbook(
      'cancel.yml',
      `- hosts: all
  gather_facts: false
  tasks:
    - command: sleep 30
`,
    );
    const controller = new AbortController();
    let pid: number | undefined;
    const running = runPlaybook({ playbook: path, inventory: { hosts: localHosts(2) }, signal: controller.signal, killGraceMs: 2000, onSpawn: (spawned) => (pid = spawned) });
    const sleepers = async (): Promise<boolean> => {
      for (let i = 0; i < 400; i++) {
        if (pid !== undefined && groupMembers(pid).some((member) => member.command === 'sleep 30')) return true;
        await sleep(50);
      }
      return false;
    };
    assert.ok(await sleepers(), 'the sleeps never started');
    const aborted = Date.now();
    controller.abort();
    const run = await running;

    assert.equal(run.outcome, 'cancelled');
    assert.equal(run.cancelled, true);
    assert.equal(run.timedOut, false);
    // The grace period is 2 s and the sleeps last 30 s: ending within 10 s means the abort ended them.
    assert.ok(Date.now() - aborted < 10_000, `ended soon after the abort (${Date.now() - aborted} ms)`);
    await assertGroupGone(run);
  });

  test('an already aborted signal starts nothing', async () => {
    const run = await runPlaybook({ playbook: join(dir, 'none.yml'), inventory: { hosts: localHosts(1) }, signal: AbortSignal.abort() });
    assert.equal(run.outcome, 'cancelled');
    assert.equal(run.pid, undefined);
    assert.deepEqual(run.log, []);
  });

  test('a playbook that does not parse is invalid (exit 4 without stats)', async () => {
    const path = playbook('broken.yml', '- hosts: all\n  tasks: [ {debug: \n');
    const run = await runPlaybook({ playbook: path, inventory: { hosts: localHosts(1) } });
    assert.equal(run.exitCode, 4);
    assert.equal(run.statsSeen, false);
    assert.equal(run.outcome, 'invalid');
    assert.ok(run.log.some((line) => line.stream === 'stderr' && line.text.includes('ERROR!')));
    await assertGroupGone(run);
  });

  test('a limit that leaves no host is an error (exit 1); a full log keeps its beginning', async () => {
    const path = playbook('ok.yml', '- hosts: all\n  gather_facts: false\n  tasks: [ { debug: { msg: hi } } ]\n');
    const lines: LogLine[] = [];
    const run = await runPlaybook({ playbook: path, inventory: { hosts: localHosts(1) }, limit: ['h9'], maxLogChars: 60, onLine: (line) => lines.push(line) });
    assert.equal(run.exitCode, 1);
    assert.equal(run.outcome, 'error');
    assert.deepEqual(run.hosts, []);
    assert.ok(run.droppedLogLines > 0);
    assert.deepEqual(run.log, lines.slice(0, run.log.length));
    assert.equal(lines.length, run.log.length + run.droppedLogLines);
    assert.ok(lines.some((line) => line.stream === 'stderr' && line.text.includes('no hosts to target')), lines.map((line) => line.text).join('\n'));
  });

  test('bad options are refused before anything starts; a missing program rejects', async () => {
    const base = { playbook: join(dir, 'ok.yml'), inventory: { hosts: localHosts(1) } };
    await assert.rejects(runPlaybook({ ...base, limit: ['h1,h2'] }), (error: unknown) => error instanceof InvalidError && error.field === 'limit[0]');
    await assert.rejects(runPlaybook({ ...base, limit: [] }), InvalidError);
    await assert.rejects(runPlaybook({ ...base, forks: 0 }), InvalidError);
    await assert.rejects(runPlaybook({ ...base, timeoutMs: -1 }), InvalidError);
    await assert.rejects(runPlaybook({ ...base, extraVars: { 'a-b': 1 } }), InvalidError);
    await assert.rejects(runPlaybook({ ...base, extraVars: { n: Number.NaN } }), (error: unknown) => error instanceof InvalidError && error.field === 'extraVars.n');
    await assert.rejects(runPlaybook({ ...base, ansiblePlaybook: join(dir, 'no-such-program') }), { code: 'ENOENT' });
  });
});
