/**
 * Orders image mirrors for one machine by rendezvous (highest random weight) hashing: every machine gets a
 * stable first choice, load spreads evenly, and adding or removing a mirror only moves the machines that
 * mirror wins or loses. The rest of the order is the machine's retry sequence.
 *
 * Weighted scores follow Schindelhauer and Schomaker's logarithmic method: score = -weight / ln(h), with h
 * uniform in (0,1), gives each mirror the first place with probability weight / total weight.
 *
 * The hash is SHA-256 (node:crypto): deterministic across processes, versions and platforms, evenly spread,
 * and at a few microseconds per mirror far below the cost of the HTTP request it routes.
 */
import { createHash } from 'node:crypto';

export interface Mirror {
  readonly id: string;
  /** Relative share of machines, a finite number above 0; 1 when absent. */
  readonly weight?: number;
}

const TWO_POW_52 = 2 ** 52;

/** Uniform in the open interval (0,1) from the first 52 bits of SHA-256 over the key and the mirror id. */
function hash01(machineKey: string, mirrorId: string): number {
  const key = Buffer.from(machineKey, 'utf8');
  const length = Buffer.alloc(4);
  length.writeUInt32BE(key.length);
  // The key's length goes first so that no (key, id) pair hashes like another one split differently.
  const digest = createHash('sha256').update(length).update(key).update(mirrorId, 'utf8').digest();
  const bits = (digest.readUInt32BE(0) >>> 12) * 2 ** 32 + digest.readUInt32BE(4);
  // 52 bits plus a half step is exact in a double and never 0 or 1, so the logarithm is finite and negative.
  return (bits + 0.5) / TWO_POW_52;
}

function weightOf(mirror: Mirror): number {
  const weight = mirror.weight ?? 1;
  if (!Number.isFinite(weight) || weight <= 0) {
    throw new RangeError(`mirror ${mirror.id}: weight must be a finite number above 0, got ${weight}`);
  }
  return weight;
}

/**
 * The mirrors in the order `machineKey` (its MAC, in one canonical spelling) should try them. The order depends
 * only on the key and the set of mirrors, not on their order in the input. Duplicate ids are refused.
 */
export function orderMirrors<M extends Mirror>(machineKey: string, mirrors: readonly M[]): M[] {
  const ids = new Set<string>();
  const scored = mirrors.map((mirror) => {
    if (ids.has(mirror.id)) throw new RangeError(`mirror ${mirror.id} is listed twice`);
    ids.add(mirror.id);
    return { mirror, score: -weightOf(mirror) / Math.log(hash01(machineKey, mirror.id)) };
  });
  // Ties are all but impossible; the id still settles one so the order never depends on the input order.
  scored.sort((a, b) => b.score - a.score || (a.mirror.id < b.mirror.id ? -1 : a.mirror.id > b.mirror.id ? 1 : 0));
  return scored.map(({ mirror }) => mirror);
}
