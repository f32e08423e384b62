import type { Clock } from '../core/clock.js';
import type { Store } from '../store/store.js';
import type { EventInput, EventLog } from './log.js';

export interface EventBatcherOptions {
  /** How long an event may wait for the next batch. */
  intervalMs?: number;
  /** Events held at most while the store is slow or failing; beyond it new ones are dropped and counted. */
  maxPending?: number;
  log: (message: string, fields: Record<string, unknown>) => void;
}

/**
 * Records events from a hot path (thousands of boot requests a second) in batches: one transaction per
 * `intervalMs` instead of one per event, each event keeping the time it happened. A failed batch is retried with
 * the next one, so a store hiccup delays events without losing them, up to `maxPending`.
 */
export class EventBatcher {
  private pending: EventInput[] = [];
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;
  private droppedCount = 0;
  private readonly intervalMs: number;
  private readonly maxPending: number;

  constructor(
    private readonly store: Store,
    private readonly events: EventLog,
    private readonly clock: Clock,
    private readonly options: EventBatcherOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 50;
    this.maxPending = options.maxPending ?? 100_000;
  }

  /** Events dropped because `maxPending` were already waiting. */
  get dropped(): number {
    return this.droppedCount;
  }

  add(input: EventInput): void {
    if (this.pending.length >= this.maxPending) {
      if (this.droppedCount++ % 10_000 === 0) this.options.log('events dropped: the store is not keeping up', { dropped: this.droppedCount, type: input.type });
      return;
    }
    this.pending.push({ ...input, time: input.time ?? this.clock.now().toISOString() });
    this.timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Writes what is pending now; resolves once it is committed (or has failed and stays pending). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    while (this.flushing) await this.flushing;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.store
      .transaction((tx) => this.events.appendMany(tx, batch))
      .catch((error: unknown) => {
        this.options.log('events not recorded yet; retrying with the next batch', { error: String(error), events: batch.length });
        this.pending = batch.concat(this.pending).slice(0, this.maxPending);
        this.timer ??= setTimeout(() => void this.flush(), this.intervalMs * 20);
      })
      .finally(() => {
        this.flushing = null;
      });
    await this.flushing;
  }

  /** Writes everything pending; call before the store closes. */
  async close(): Promise<void> {
    await this.flush();
  }
}
