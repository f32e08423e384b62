/**
 * What a finished `ansible-playbook` run means, from its exit status. The codes are ansible-core's own
 * (2.14: `TaskQueueManager.RUN_*` and `cli/__init__.py`):
 *
 * | exit              | outcome        | meaning                                                             |
 * |-------------------|----------------|---------------------------------------------------------------------|
 * | 0                 | `ok`           | every host ran the play without failing                             |
 * | 2 (8)             | `failed`       | the play ran and some host failed (8, "break play", is reported 2)   |
 * | 4, with stats     | `unreachable`  | the play ran and some host was unreachable (wins over failed hosts) |
 * | 4, without stats  | `invalid`      | AnsibleParserError: the playbook or the inventory does not parse    |
 * | 5                 | `invalid`      | AnsibleOptionsError: bad command-line options                       |
 * | 1, 6, 250, 255, … | `error`        | AnsibleError (say, no host left after `--limit`), unexpected bug   |
 * | 99                | `interrupted`  | Ansible was interrupted (SIGINT)                                   |
 * | killed by signal  | `killed`       | a signal Hangar did not send                                        |
 *
 * A run Hangar stopped is `timed_out` or `cancelled` whatever its exit status.
 */

export type RunOutcome = 'ok' | 'failed' | 'unreachable' | 'invalid' | 'error' | 'interrupted' | 'killed' | 'timed_out' | 'cancelled';

export interface ExitFacts {
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly timedOut: boolean;
  readonly cancelled: boolean;
  /** Whether the closing stats event arrived, which tells a parse error (4) from unreachable hosts (4). */
  readonly statsSeen: boolean;
}

export function runOutcome(facts: ExitFacts): RunOutcome {
  if (facts.cancelled) return 'cancelled';
  if (facts.timedOut) return 'timed_out';
  if (facts.exitCode === null) return 'killed';
  switch (facts.exitCode) {
    case 0:
      return 'ok';
    case 2:
    case 8:
      return 'failed';
    case 4:
      return facts.statsSeen ? 'unreachable' : 'invalid';
    case 5:
      return 'invalid';
    case 99:
      return 'interrupted';
    default:
      return 'error';
  }
}
