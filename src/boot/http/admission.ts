/**
 * Admission control for image transfers: at most `limit` at once on this server; beyond that the caller answers
 * 503 with the `Retry-After` returned here. iPXE retries such a request by itself after that many seconds, so
 * the spread of Retry-After values is what turns a boot storm into an orderly queue.
 *
 * Retry-After is drawn uniformly from `min` up to a ceiling that rises with the pressure: the recent refusals,
 * each counting less as it ages (exponential decay with a time constant of `max` seconds), divided by the limit.
 * With few refusals the ceiling stays near `min` and refused machines come back soon; from
 * `SATURATION_PRESSURE` times the limit on, retries spread over the whole `min..max` window.
 */
import type { Clock } from '../../core/clock.js';

export interface AdmissionGateOptions {
  /** Concurrent transfers allowed, a positive integer. */
  readonly limit: number;
  /** Bounds of the Retry-After answer in whole seconds, 1 <= min <= max. */
  readonly retryAfterSeconds: { readonly min: number; readonly max: number };
  /** Uniform in [0, 1), as Math.random. */
  readonly random: () => number;
  readonly clock: Clock;
}

export type Admission =
  | { readonly admitted: true; release(): void }
  | { readonly admitted: false; readonly retryAfterSeconds: number };

/** Recent refusals per admission slot at which Retry-After spreads over its whole window. */
export const SATURATION_PRESSURE = 4;

export class AdmissionGate {
  readonly limit: number;
  private readonly min: number;
  private readonly max: number;
  private readonly random: () => number;
  private readonly clock: Clock;
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

  /** Admits a transfer, whose `release` must be called once it ends (more calls do nothing), or refuses it. */
  tryAcquire(): Admission {
    if (this.current >= this.limit) {
      this.refusedCount++;
      return { admitted: false, retryAfterSeconds: this.retryAfter() };
    }
    this.current++;
    this.admittedCount++;
    this.highest = Math.max(this.highest, this.current);
    let released = false;
    return {
      admitted: true,
      release: () => {
        if (released) return;
        released = true;
        this.current--;
      },
    };
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
