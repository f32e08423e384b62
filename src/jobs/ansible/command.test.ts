import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ANSIBLE_ENV, playbookInvocation } from './command.js';
import { runOutcome, type ExitFacts } from './outcome.js';

const files = { inventory: '/run/x/inventory.yml', localTemp: '/run/x/tmp' };

test('the command line carries paths and a fork count, never job data', () => {
  const invocation = playbookInvocation(
    { playbook: '/srv/project/site.yml', forks: 20 },
    { ...files, extraVars: '/run/x/extra-vars.json', limit: '/run/x/limit.txt' },
  );
  assert.deepEqual(invocation.args, [
    '-i', '/run/x/inventory.yml',
    '--forks', '20',
    '--limit', '@/run/x/limit.txt',
    '--extra-vars', '@/run/x/extra-vars.json',
    '--', '/srv/project/site.yml',
  ]);
});

test('the environment selects the jsonl callback on one line, no colour, and the run temp dir', () => {
  const { args, env } = playbookInvocation({ playbook: '-odd.yml' }, files);
  assert.deepEqual(args, ['-i', '/run/x/inventory.yml', '--', '-odd.yml']);
  assert.equal(env['ANSIBLE_STDOUT_CALLBACK'], 'ansible.posix.jsonl');
  assert.equal(env['ANSIBLE_JSON_INDENT'], '0');
  assert.equal(env['ANSIBLE_FORCE_COLOR'], '0');
  assert.equal(env['ANSIBLE_HOST_KEY_CHECKING'], '0');
  assert.equal(env['ANSIBLE_LOCAL_TEMP'], '/run/x/tmp');
  assert.equal(playbookInvocation({ playbook: 'p.yml', hostKeyChecking: true }, files).env['ANSIBLE_HOST_KEY_CHECKING'], '1');
});

test('caller env comes last', () => {
  const { env } = playbookInvocation({ playbook: 'p.yml', env: { ANSIBLE_ROLES_PATH: '/srv/roles', ANSIBLE_FORCE_COLOR: '1' } }, files);
  assert.equal(env['ANSIBLE_ROLES_PATH'], '/srv/roles');
  assert.equal(env['ANSIBLE_FORCE_COLOR'], '1');
  assert.equal(ANSIBLE_ENV['ANSIBLE_FORCE_COLOR'], '0');
});

test('exit statuses map to outcomes', () => {
  const exit = (exitCode: number | null, extra: Partial<ExitFacts> = {}): ExitFacts => ({
    exitCode, signal: null, timedOut: false, cancelled: false, statsSeen: true, ...extra,
  });
  const cases: [ExitFacts, string][] = [
    [exit(0), 'ok'],
    [exit(2), 'failed'],
    [exit(8), 'failed'],
    [exit(4), 'unreachable'],
    [exit(4, { statsSeen: false }), 'invalid'],
    [exit(5, { statsSeen: false }), 'invalid'],
    [exit(1, { statsSeen: false }), 'error'],
    [exit(250), 'error'],
    [exit(255), 'error'],
    [exit(3), 'error'],
    [exit(99), 'interrupted'],
    [exit(null, { signal: 'SIGKILL' }), 'killed'],
    [exit(null, { signal: 'SIGTERM', timedOut: true }), 'timed_out'],
    [exit(0, { timedOut: true }), 'timed_out'],
    [exit(null, { signal: 'SIGTERM', cancelled: true }), 'cancelled'],
  ];
  for (const [facts, outcome] of cases) assert.equal(runOutcome(facts), outcome, JSON.stringify(facts));
});
