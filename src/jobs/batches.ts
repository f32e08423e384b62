/**
 * Rolling batches: how many machines a job or rollout touches at once, and when failures must stop it.
 * Both are written the way Ansible writes `serial` and `max_fail_percentage`: a count ("5") or a percentage ("20%").
 */
import { InvalidError } from '../core/errors.js';

/** A number of hosts, or a whole-number percentage of the hosts in scope. */
export type CountOrPercent =
  | { readonly kind: 'count'; readonly value: number }
  | { readonly kind: 'percent'; readonly value: number };

/** How many hosts one batch holds. Counts are at least 1; percentages are 1 to 100. */
export type BatchSize = CountOrPercent;

/** How many failures are tolerated before the run stops. Counts are at least 0; percentages are 0 to 100. */
export type FailureThreshold = CountOrPercent;

/** Progress of a run (or of one batch): `failed` hosts are among the `finished` ones, which are among `total`. */
export interface BatchProgress {
  readonly failed: number;
  readonly finished: number;
  readonly total: number;
}

/** Parses a batch size such as `5` or `20%`. */
export function parseBatchSize(text: string, field = 'batch_size'): BatchSize {
  return parseCountOrPercent(text, field, 1, 'examples: 1, 5, 20%');
}

/** Parses a failure threshold such as `0`, `2` or `10%` (stop when failures exceed it). */
export function parseFailureThreshold(text: string, field = 'failure_threshold'): FailureThreshold {
  return parseCountOrPercent(text, field, 0, 'examples: 0, 2, 10%');
}

function parseCountOrPercent(text: string, field: string, min: number, examples: string): CountOrPercent {
  const match = /^(\d+)(%?)$/.exec(text.trim());
  const value = match ? Number(match[1]) : Number.NaN;
  const isPercent = match?.[2] === '%';
  const max = isPercent ? 100 : Number.MAX_SAFE_INTEGER;
  if (!match || !Number.isSafeInteger(value) || value < min || value > max) {
    const range = `a whole number of at least ${min}, or a percentage from ${min}% to 100%`;
    throw new InvalidError(`${field}: '${text}' is not ${range} (${examples})`, field);
  }
  return { kind: isPercent ? 'percent' : 'count', value };
}

/** Hosts per batch for `total` hosts: a percentage rounds up and is never below 1 host. */
export function hostsPerBatch(size: BatchSize, total: number): number {
  if (size.kind === 'count') return size.value;
  return Math.max(1, Math.ceil((total * size.value) / 100));
}

/**
 * Splits hosts into consecutive batches in the given order; the last batch may be smaller.
 * A host listed twice is refused, since it would be rebooted or configured twice.
 */
export function planBatches(hosts: readonly string[], size: BatchSize): string[][] {
  const seen = new Set<string>();
  for (const host of hosts) {
    if (seen.has(host)) throw new InvalidError(`hosts: '${host}' is listed more than once`, 'hosts');
    seen.add(host);
  }
  const perBatch = hostsPerBatch(size, hosts.length);
  const batches: string[][] = [];
  for (let start = 0; start < hosts.length; start += perBatch) {
    batches.push(hosts.slice(start, start + perBatch));
  }
  return batches;
}

/**
 * True when failures EXCEED the threshold, as with Ansible's `max_fail_percentage`: a count of 2 tolerates two
 * failures and stops on the third; 10% of 20 hosts tolerates two and stops on the third; 0 stops on the first
 * failure and 100% never stops. The share is taken of `total`, the hosts in the threshold's scope (the whole run,
 * or the current batch for Ansible's per-batch behaviour), not of those finished so far, so that one early failure
 * does not look like 100%.
 */
export function shouldStop(progress: BatchProgress, threshold: FailureThreshold): boolean {
  const { failed, finished, total } = progress;
  const counts = [failed, finished, total];
  if (!counts.every((n) => Number.isSafeInteger(n) && n >= 0) || failed > finished || finished > total) {
    throw new RangeError(`inconsistent progress: failed ${failed}, finished ${finished}, total ${total}`);
  }
  if (threshold.kind === 'count') return failed > threshold.value;
  // Integer arithmetic: failed/total > value/100 without floating-point rounding at the boundary.
  return failed * 100 > threshold.value * total;
}
