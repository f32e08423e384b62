/**
 * The machine lifecycle: states, the events that move a machine between them, and the transition table.
 * The table is plain data so that the code, the docs (renderLifecycleTableMarkdown) and the tests read the same
 * rows. An event not listed for a state is illegal there.
 *
 * One invariant the services rely on: entering `configuring` always means a configuration run is due, whichever
 * event led there (check-in, retry, leaving maintenance).
 */
import { ConflictError } from '../core/errors.js';

export const LIFECYCLE_STATES = [
  'discovered',
  'planned',
  'booting',
  'configuring',
  'active',
  'failed',
  'maintenance',
  'decommissioned',
] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

export const LIFECYCLE_EVENTS = [
  'accept',
  'reject',
  'boot',
  'boot_failed',
  'check_in',
  'configured',
  'configuration_failed',
  'retry',
  'enter_maintenance',
  'leave_maintenance',
  'decommission',
  'recommission',
] as const;
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number];

/** One row of the table: `event` moves a machine from any state in `from` to `to`. */
export interface LifecycleTransition {
  readonly event: LifecycleEvent;
  readonly from: readonly LifecycleState[];
  readonly to: LifecycleState;
  /** Why the transition exists, shown in the docs. */
  readonly why: string;
}

export const LIFECYCLE_TRANSITIONS: readonly LifecycleTransition[] = [
  {
    event: 'accept',
    from: ['discovered'],
    to: 'planned',
    why: 'An operator or a matching rule accepted a discovered machine into the inventory.',
  },
  {
    event: 'reject',
    from: ['discovered'],
    to: 'decommissioned',
    why: 'An operator refused a discovered machine; it keeps its record but gets no boot assignment.',
  },
  {
    event: 'boot',
    from: ['planned', 'active', 'failed', 'maintenance'],
    to: 'booting',
    why: 'Hangar started a first boot, a reboot, or a rollout batch that includes the machine.',
  },
  {
    event: 'boot_failed',
    from: ['booting'],
    to: 'failed',
    why: 'The machine did not check in before the boot deadline; without this a hung boot would have no way out.',
  },
  {
    event: 'check_in',
    from: ['booting', 'planned', 'active', 'failed'],
    to: 'configuring',
    why:
      'The agent checked in after a boot. From planned, active or failed the boot was not recorded (powered on by ' +
      'hand, power loss): a diskless machine loses its configuration when it restarts, so it is configured again.',
  },
  {
    event: 'check_in',
    from: ['discovered'],
    to: 'discovered',
    why: 'The discovery image reported its facts again; the machine still waits to be accepted.',
  },
  {
    event: 'check_in',
    from: ['configuring'],
    to: 'configuring',
    why: 'The machine restarted while being configured; the configuration run is due again.',
  },
  {
    event: 'check_in',
    from: ['maintenance'],
    to: 'maintenance',
    why: 'Maintenance holds the machine: operators may restart it by hand without it being configured or exported.',
  },
  {
    event: 'configured',
    from: ['configuring'],
    to: 'active',
    why: 'The configuration run succeeded for this machine.',
  },
  {
    event: 'configuration_failed',
    from: ['configuring'],
    to: 'failed',
    why: 'The configuration run failed for this machine, or it was unreachable.',
  },
  {
    event: 'retry',
    from: ['failed'],
    to: 'configuring',
    why: 'An operator asked to run the configuration again without rebooting.',
  },
  {
    event: 'enter_maintenance',
    from: ['active', 'failed'],
    to: 'maintenance',
    why: 'An operator took the machine out of service to work on it.',
  },
  {
    event: 'leave_maintenance',
    from: ['maintenance'],
    to: 'configuring',
    why:
      'Leaving maintenance re-runs the configuration, which is idempotent, so the machine becomes active only once ' +
      'proven healthy (hands may have changed it, or a restart may have wiped it) without needing a reboot. ' +
      'Straight to active would trust it blindly; back to planned would leave it out of service until rebooted.',
  },
  {
    event: 'decommission',
    from: ['discovered', 'planned', 'booting', 'configuring', 'active', 'failed', 'maintenance'],
    to: 'decommissioned',
    why: 'The machine leaves service for good; its record stays for history.',
  },
  {
    event: 'recommission',
    from: ['decommissioned'],
    to: 'planned',
    why: 'A decommissioned machine is brought back; it boots and is configured afresh.',
  },
];

/** state -> event -> next state, built once from the table. */
const NEXT_STATE: ReadonlyMap<LifecycleState, ReadonlyMap<LifecycleEvent, LifecycleState>> = indexTransitions(
  LIFECYCLE_TRANSITIONS,
);

function indexTransitions(
  rows: readonly LifecycleTransition[],
): Map<LifecycleState, Map<LifecycleEvent, LifecycleState>> {
  const index = new Map<LifecycleState, Map<LifecycleEvent, LifecycleState>>(
    LIFECYCLE_STATES.map((state) => [state, new Map()]),
  );
  for (const row of rows) {
    for (const state of row.from) {
      const events = index.get(state) as Map<LifecycleEvent, LifecycleState>;
      // A state with two rows for one event would make the machine ambiguous: refuse to load such a table.
      if (events.has(row.event)) throw new Error(`lifecycle table lists '${row.event}' twice for '${state}'`);
      events.set(row.event, row.to);
    }
  }
  return index;
}

/** Thrown when an event does not apply to the machine's current state (HTTP 409). */
export class IllegalTransitionError extends ConflictError {
  readonly state: LifecycleState;
  readonly event: LifecycleEvent;
  readonly allowed: readonly LifecycleEvent[];

  constructor(state: LifecycleState, event: LifecycleEvent, allowed: readonly LifecycleEvent[]) {
    const options = allowed.length > 0 ? allowed.join(', ') : 'none';
    super(`event '${event}' does not apply to a machine in state '${state}'; allowed events: ${options}`, 'event');
    this.state = state;
    this.event = event;
    this.allowed = allowed;
  }
}

/** Events legal in `state`, in the order of LIFECYCLE_EVENTS. */
export function allowedEvents(state: LifecycleState): LifecycleEvent[] {
  const events = NEXT_STATE.get(state);
  return LIFECYCLE_EVENTS.filter((event) => events?.has(event) === true);
}

/** The state after `event`, or IllegalTransitionError when the table has no such row. */
export function transition(state: LifecycleState, event: LifecycleEvent): LifecycleState {
  const next = NEXT_STATE.get(state)?.get(event);
  if (next === undefined) throw new IllegalTransitionError(state, event, allowedEvents(state));
  return next;
}

/** The table as Markdown, one line per table row, for the docs. */
export function renderLifecycleTableMarkdown(rows: readonly LifecycleTransition[] = LIFECYCLE_TRANSITIONS): string {
  const cell = (text: string): string => text.replaceAll('\\', '\\\\').replaceAll('|', '\\|').replace(/\s+/g, ' ');
  const code = (text: string): string => `\`${text}\``;
  const lines = ['| Event | From | To | Why |', '| --- | --- | --- | --- |'];
  for (const row of rows) {
    const from = row.from.map(code).join(', ');
    lines.push(`| ${code(row.event)} | ${from} | ${code(row.to)} | ${cell(row.why)} |`);
  }
  return `${lines.join('\n')}\n`;
}
