/**
 * Lines of the `ansible.posix.jsonl` stdout callback, typed. Each event is one JSON object on one line with an
 * `_event` naming the callback method. Result events carry the task and a `hosts` object holding exactly one
 * host's result; there is no separate "changed" event (an ok result has `changed: true`), and an ignored or
 * rescued failure looks exactly like any other failure until the closing stats. Anything that is not such an
 * object (Ansible's own plain text on stdout, such as the `pause` module's prompt, or a line cut short) is garbage.
 */

export interface TaskRef {
  readonly id: string;
  readonly name: string;
  /** `file:line` of the task. */
  readonly path: string;
}

export type HostResultStatus = 'ok' | 'changed' | 'failed' | 'unreachable' | 'skipped';

/** One host's counters in Ansible's recap, named as in the recap (`failures` is `failed` elsewhere here). */
export interface HostStats {
  readonly ok: number;
  readonly changed: number;
  readonly failures: number;
  readonly unreachable: number;
  readonly skipped: number;
  readonly rescued: number;
  readonly ignored: number;
}

export type AnsibleEvent =
  | { readonly kind: 'play_start'; readonly play: TaskRef }
  /**
   * A task (or handler) begins. Linear and debug strategies send it once per task; other strategies
   * (`free`, `host_pinned`) once per host, and the jsonl callback does not say which host.
   */
  | { readonly kind: 'task_start'; readonly task: TaskRef; readonly handler: boolean }
  | {
      readonly kind: 'host_result';
      readonly host: string;
      readonly status: HostResultStatus;
      readonly task: TaskRef;
      readonly action: string;
      /** Why it failed or was unreachable; absent for other statuses. */
      readonly message?: string;
      /** The module's result as Ansible sent it. */
      readonly result: Readonly<Record<string, unknown>>;
    }
  | { readonly kind: 'stats'; readonly hosts: ReadonlyMap<string, HostStats> }
  /** A well-formed event this parser does not know, such as one from a newer callback. */
  | { readonly kind: 'unknown'; readonly name: string };

export type ParsedLine =
  | { readonly kind: 'event'; readonly event: AnsibleEvent }
  | { readonly kind: 'blank' }
  | { readonly kind: 'garbage' };

/** Failure messages longer than this are cut; the full text stays in the log. */
export const MAX_MESSAGE_LENGTH = 2000;

const RESULT_EVENTS: Readonly<Record<string, 'ok' | 'failed' | 'unreachable' | 'skipped'>> = {
  v2_runner_on_ok: 'ok',
  v2_runner_on_failed: 'failed',
  v2_runner_on_unreachable: 'unreachable',
  v2_runner_on_skipped: 'skipped',
};

/** Parses one line of callback output (without its line break). Never throws. */
export function parseEventLine(line: string): ParsedLine {
  const text = line.trim();
  if (text === '') return { kind: 'blank' };
  if (!text.startsWith('{')) return { kind: 'garbage' };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { kind: 'garbage' };
  }
  if (!isRecord(value) || typeof value['_event'] !== 'string') return { kind: 'garbage' };
  const event = toEvent(value['_event'], value);
  return event === undefined ? { kind: 'garbage' } : { kind: 'event', event };
}

/** undefined when an event Ansible names is missing the parts it always has. */
function toEvent(name: string, body: Record<string, unknown>): AnsibleEvent | undefined {
  switch (name) {
    case 'v2_playbook_on_play_start': {
      const play = taskRef(body['play']);
      return play && { kind: 'play_start', play };
    }
    case 'v2_playbook_on_task_start':
    case 'v2_runner_on_start':
    case 'v2_playbook_on_handler_task_start': {
      const task = taskRef(body['task']);
      return task && { kind: 'task_start', task, handler: name === 'v2_playbook_on_handler_task_start' };
    }
    case 'v2_playbook_on_stats':
      return isRecord(body['stats']) ? { kind: 'stats', hosts: statsOf(body['stats']) } : undefined;
  }
  const outcome = Object.hasOwn(RESULT_EVENTS, name) ? RESULT_EVENTS[name] : undefined;
  if (outcome === undefined) return { kind: 'unknown', name };
  const task = taskRef(body['task']);
  const hosts = body['hosts'];
  if (!task || !isRecord(hosts)) return undefined;
  const host = Object.keys(hosts)[0];
  const result = host === undefined ? undefined : hosts[host];
  if (host === undefined || !isRecord(result)) return undefined;
  const action = typeof result['action'] === 'string' ? result['action'] : '';
  const status: HostResultStatus = outcome === 'ok' && result['changed'] === true ? 'changed' : outcome;
  if (status === 'failed' || status === 'unreachable') {
    return { kind: 'host_result', host, status, task, action, message: failureMessage(result), result };
  }
  return { kind: 'host_result', host, status, task, action, result };
}

function taskRef(value: unknown): TaskRef | undefined {
  if (!isRecord(value)) return undefined;
  const { id, name, path } = value;
  if (typeof id !== 'string' || typeof name !== 'string') return undefined;
  return { id, name, path: typeof path === 'string' ? path : '' };
}

function statsOf(stats: Record<string, unknown>): Map<string, HostStats> {
  const hosts = new Map<string, HostStats>();
  for (const [host, counts] of Object.entries(stats)) {
    const count = (key: string): number => {
      const value = isRecord(counts) ? counts[key] : undefined;
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
    };
    hosts.set(host, {
      ok: count('ok'),
      changed: count('changed'),
      failures: count('failures'),
      unreachable: count('unreachable'),
      skipped: count('skipped'),
      rescued: count('rescued'),
      ignored: count('ignored'),
    });
  }
  return hosts;
}

/**
 * A one-paragraph reason from a failed or unreachable result: its `msg` (or the no_log notice), for a loop the
 * first failed item's (prefixed with the item's label), followed by the command's stderr or the module's own
 * stderr when there is one.
 */
export function failureMessage(result: Readonly<Record<string, unknown>>): string {
  const failedItem = Array.isArray(result['results'])
    ? result['results'].find((item: unknown) => isRecord(item) && (item['failed'] === true || item['unreachable'] === true))
    : undefined;
  const source: Readonly<Record<string, unknown>> = isRecord(failedItem) ? failedItem : result;
  // A no_log result has only Ansible's `censored` notice.
  const said = text(source['msg']) || text(source['censored']);
  const parts = [said, text(source['stderr']) || text(source['module_stderr'])].filter((part) => part !== '');
  let message = parts.join(': ') || 'failed without a message';
  if (isRecord(failedItem)) {
    const label = failedItem['_ansible_item_label'] ?? failedItem['item'];
    message = `item ${JSON.stringify(label) ?? '?'}: ${message}`;
  }
  return message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 1)}…` : message;
}

function text(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
