/**
 * Folds the jsonl event stream into one summary per host. While the run goes on, counters come from the result
 * events; Ansible's closing stats then replace them, because only the stats know which failures were ignored
 * (`ignore_errors`) or rescued by a block. A run cut short keeps the counters from the events it did send.
 */
import { parseEventLine, type AnsibleEvent, type HostStats } from './events.js';

export type HostStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

export interface HostFailure {
  readonly task: string;
  /** `file:line` of the task. */
  readonly path: string;
  readonly action: string;
  readonly message: string;
  readonly unreachable: boolean;
}

export interface HostSummary {
  readonly host: string;
  /** The worst thing that happened: unreachable, then failed, then changed, then ok; skipped if nothing ran. */
  readonly status: HostStatus;
  /** As in Ansible's recap, `ok` includes the changed results. */
  readonly ok: number;
  readonly changed: number;
  readonly failed: number;
  readonly unreachable: number;
  readonly skipped: number;
  readonly rescued: number;
  readonly ignored: number;
  /**
   * The last failed or unreachable result, which is the one that stopped the host: failures before it were
   * ignored or rescued, since a host that fails for good runs nothing further (but `always` sections and forced
   * handlers). Absent when the host did not fail, or when the stats say its every failure was ignored or rescued.
   */
  readonly failure?: HostFailure;
}

export interface RunSummary {
  /** Sorted by host name. */
  readonly hosts: readonly HostSummary[];
  /** Whether Ansible's closing stats arrived; without them the run was cut short or never got going. */
  readonly statsSeen: boolean;
  readonly plays: number;
  /** Lines that were not callback events (Ansible's plain-text output, cut-off lines). */
  readonly garbageLines: number;
  readonly unknownEvents: number;
}

interface HostTally {
  ok: number;
  changed: number;
  failed: number;
  unreachable: number;
  skipped: number;
  failure: HostFailure | undefined;
}

/** An incremental fold: feed it complete lines as they arrive, ask for the summary at any time. */
export interface RunFold {
  /** Folds one line in and returns its event, if it was one. */
  addLine(line: string): AnsibleEvent | undefined;
  addEvent(event: AnsibleEvent): void;
  summary(): RunSummary;
}

export function createRunFold(): RunFold {
  const tallies = new Map<string, HostTally>();
  let stats: ReadonlyMap<string, HostStats> | undefined;
  let plays = 0;
  let garbageLines = 0;
  let unknownEvents = 0;

  const tallyOf = (host: string): HostTally => {
    let tally = tallies.get(host);
    if (tally === undefined) {
      tally = { ok: 0, changed: 0, failed: 0, unreachable: 0, skipped: 0, failure: undefined };
      tallies.set(host, tally);
    }
    return tally;
  };

  const addEvent = (event: AnsibleEvent): void => {
    switch (event.kind) {
      case 'play_start':
        plays++;
        return;
      case 'task_start':
        return;
      case 'unknown':
        unknownEvents++;
        return;
      case 'stats':
        // Ansible sends stats after each playbook file, each covering the run so far: the last one wins.
        stats = event.hosts;
        return;
      case 'host_result': {
        const tally = tallyOf(event.host);
        if (event.status === 'ok' || event.status === 'changed') tally.ok++;
        if (event.status === 'changed') tally.changed++;
        if (event.status === 'skipped') tally.skipped++;
        if (event.status === 'failed') tally.failed++;
        if (event.status === 'unreachable') tally.unreachable++;
        if (event.status === 'failed' || event.status === 'unreachable') {
          tally.failure = {
            task: event.task.name,
            path: event.task.path,
            action: event.action,
            message: event.message ?? '',
            unreachable: event.status === 'unreachable',
          };
        }
        return;
      }
    }
  };

  return {
    addLine(line) {
      const parsed = parseEventLine(line);
      if (parsed.kind === 'garbage') garbageLines++;
      if (parsed.kind !== 'event') return undefined;
      addEvent(parsed.event);
      return parsed.event;
    },
    addEvent,
    summary() {
      const names = new Set([...tallies.keys(), ...(stats?.keys() ?? [])]);
      const hosts = [...names].sort().map((host) => summarize(host, tallies.get(host), stats?.get(host)));
      return { hosts, statsSeen: stats !== undefined, plays, garbageLines, unknownEvents };
    },
  };
}

/** Folds a whole captured output at once. */
export function foldLines(lines: Iterable<string>): RunSummary {
  const fold = createRunFold();
  for (const line of lines) fold.addLine(line);
  return fold.summary();
}

function summarize(host: string, tally: HostTally | undefined, stats: HostStats | undefined): HostSummary {
  const counts = stats
    ? {
        ok: stats.ok,
        changed: stats.changed,
        failed: stats.failures,
        unreachable: stats.unreachable,
        skipped: stats.skipped,
        rescued: stats.rescued,
        ignored: stats.ignored,
      }
    : {
        ok: tally?.ok ?? 0,
        changed: tally?.changed ?? 0,
        failed: tally?.failed ?? 0,
        unreachable: tally?.unreachable ?? 0,
        skipped: tally?.skipped ?? 0,
        rescued: 0,
        ignored: 0,
      };
  const status: HostStatus =
    counts.unreachable > 0 ? 'unreachable'
    : counts.failed > 0 ? 'failed'
    : counts.changed > 0 ? 'changed'
    : counts.ok > 0 ? 'ok'
    : 'skipped';
  const failure = status === 'failed' || status === 'unreachable' ? tally?.failure : undefined;
  return failure === undefined ? { host, status, ...counts } : { host, status, ...counts, failure };
}
