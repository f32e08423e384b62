import { InvalidError } from './errors.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** Parses durations such as `90s`, `30m`, `12h`, `30d`, `1h30m` into milliseconds. */
export function parseDuration(text: string, field = 'duration'): number {
  const trimmed = text.trim();
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(pattern)) {
    total += Number(match[1]) * (UNIT_MS[match[2] as string] as number);
    consumed += match[0].length;
  }
  if (trimmed.length === 0 || consumed !== trimmed.length) {
    throw new InvalidError(`${field}: '${text}' is not a duration (examples: 90s, 30m, 12h, 30d)`, field);
  }
  return total;
}
