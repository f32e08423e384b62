/**
 * Admission control for image transfers: at most `limit` at once on this server; beyond that the caller answers
 * 503 with the `Retry-After` returned here. iPXE retries such a request by itself after that many seconds, so
 * the spread of Retry-After values is what turns a boot storm into an orderly queue.
 *
 * Retry-After is drawn uniformly from `min` up to a ceiling that rises with the pressure: the recent refusals,
 * each counting less as it ages (exponential decay with a time constant of `max` seconds), divided by the limit.
 * With few refusals the ceiling stays near `min` and refused machines come back soon; from
 * `SATURATION_PRESSURE` times the limit on, retries spread over the whole `min..max` window.
 *
 * Clients that do not retry by themselves (live-boot's `fetch=` is one wget) take `acquire` instead: they wait in
 * line, first come first served, for a slot that a finished transfer hands straight on, and are refused only when
 * the line is full or their wait runs out.
 */
import type { Clock } from '../../core/clock.js';

export interface AdmissionGateOptions {
  /** Concurrent transfers allowed, a positive integer. */
  readonly limit: number;
  /** Bounds of the Retry-After answer in whole seconds, 1 <= min <= max. */
  readonly retryAfterSeconds: { readonly min: number; readonly max: number };
  /** Clients waiting in `acquire` at most; beyond it they are refused at once. */
  readonly maxWaiting?: number;
  /** Uniform in [0, 1), as Math.random. */
  readonly random: () => number;
  readonly clock: Clock;
}

export type Admission =
  | { readonly admitted: true; release(): void }
  | { readonly admitted: false; readonly retryAfterSeconds: number };

interface Waiter {
  admit(): void;
}

/** Recent refusals per admission slot at which Retry-After spreads over its whole window. */
export const SATURATION_PRESSURE = 4;

export class AdmissionGate {
  readonly limit: number;
  private readonly min: number;
  private readonly max: number;
  private readonly random: () => number;
  private readonly clock: Clock;
  private readonly maxWaiting: number;
  private readonly waiting: Waiter[] = [];
  private current = 0;
  private highest = 0;
  private admittedCount = 0;
  private refusedCount = 0;
  /** Decayed count of refusals, as of `pressureAt` (ms). */
  private recentRefusals = 0;
  private pressureAt = 0;

  constructor(options: AdmissionGateOptions) {
    const { limit, retryAfterSeconds, random, clock } = options;
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`admission limit must be a positive integer, got ${limit}`);
    const { min, max } = retryAfterSeconds;
    if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max < min) {
      throw new RangeError(`retryAfterSeconds must be integers with 1 <= min <= max, got ${min}..${max}`);
    }
    this.limit = limit;
    this.maxWaiting = options.maxWaiting ?? 0;
    this.min = min;
    this.max = max;
    this.random = random;
    this.clock = clock;
  }

  /** Transfers admitted and not yet released. */
  get inFlight(): number {
    return this.current;
  }

  /** The highest `inFlight` seen. */
  get peak(): number {
    return this.highest;
  }

  get admitted(): number {
    return this.admittedCount;
  }

  get refused(): number {
    return this.refusedCount;
  }

  /** Clients waiting in line for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /** Admits a transfer, whose `release` must be called once it ends (more calls do nothing), or refuses it. */
  tryAcquire(): Admission {
    if (this.current >= this.limit) return this.refuse();
    this.current++;
    return this.admit();
  }

  /**
   * Admits a transfer now, or once a slot frees up within `waitMs`; refuses when the line is full, the wait runs
   * out, or `signal` aborts (the client went away).
   */
  acquire(waitMs: number, signal?: AbortSignal): Promise<Admission> {
    if (this.current < this.limit) return Promise.resolve(this.tryAcquire());
    if (this.waiting.length >= this.maxWaiting || signal?.aborted) return Promise.resolve(this.refuse());
    return new Promise((resolve) => {
      const leave = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', giveUp);
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
      };
      const giveUp = () => {
        leave();
        resolve(this.refuse());
      };
      // The slot is handed over by `release`, so `current` already counts this transfer.
      const waiter: Waiter = {
        admit: () => {
          leave();
          resolve(this.admit());
        },
      };
      const timer = setTimeout(giveUp, waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiting.push(waiter);
    });
  }

  private admit(): Admission {
    this.admittedCount++;
    this.highest = Math.max(this.highest, this.current);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        const next = this.waiting[0];
        if (next) next.admit();
        else this.current--;
      },
    };
  }

  private refuse(): Admission {
    this.refusedCount++;
    return { admitted: false, retryAfterSeconds: this.retryAfter() };
  }

  private retryAfter(): number {
    const now = this.clock.now().getTime();
    const elapsedSeconds = Math.max(0, now - this.pressureAt) / 1000;
    this.recentRefusals = this.recentRefusals * Math.exp(-elapsedSeconds / this.max) + 1;
    this.pressureAt = now;
    const pressure = Math.min(1, this.recentRefusals / (SATURATION_PRESSURE * this.limit));
    const ceiling = this.min + (this.max - this.min) * pressure;
    // floor over (ceiling - min + 1) keeps every whole second up to the ceiling equally likely.
    const drawn = this.min + Math.floor(this.random() * (Math.floor(ceiling) - this.min + 1));
    return Math.min(this.max, Math.max(this.min, drawn));
  }
}
