import { createHash } from 'node:crypto';
import canonicalizeModule from 'canonicalize';

// The package is CommonJS with an ESM-style declaration file: at run time the default import is the function.
const canonicalize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/**
 * The audit hash chain, pure. Each entry's hash is sha256 over the previous entry's hash and the entry's canonical
 * JSON (RFC 8785), so altering, removing or reordering any entry breaks every hash after it.
 */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditRecord {
  id: number;
  time: string;
  actor: string;
  action: string;
  objectType: string;
  objectId: string;
  before: unknown;
  after: unknown;
  context: unknown;
}

export interface ChainedAuditRecord extends AuditRecord {
  prevHash: string;
  hash: string;
}

export function canonicalJson(value: unknown): string {
  const text = canonicalize(value ?? null);
  if (text === undefined) throw new Error('value cannot be represented as canonical JSON');
  return text;
}

export function entryHash(prevHash: string, record: AuditRecord): string {
  const { id, time, actor, action, objectType, objectId, before, after, context } = record;
  const body = canonicalJson({ id, time, actor, action, objectType, objectId, before, after, context });
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

export type ChainProblem = { id: number; reason: string };

/** Checks entries one at a time, in id order, so a log of any length is verified in constant memory. */
export class ChainVerifier {
  private expectedId = 1;
  private prevHash = GENESIS_HASH;
  private problem: ChainProblem | null = null;

  get checked(): number {
    return this.expectedId - 1;
  }

  /** Returns the first problem found so far, or null. Stops checking after the first problem. */
  add(entry: ChainedAuditRecord): ChainProblem | null {
    if (this.problem) return this.problem;
    if (entry.id !== this.expectedId) {
      const reason =
        entry.id > this.expectedId
          ? `entries ${this.expectedId}..${entry.id - 1} are missing`
          : `entry ${entry.id} is out of order`;
      this.problem = { id: this.expectedId, reason };
    } else if (entry.prevHash !== this.prevHash) {
      this.problem = { id: entry.id, reason: 'previous-hash link does not match the entry before it (removed or reordered)' };
    } else if (entryHash(entry.prevHash, entry) !== entry.hash) {
      this.problem = { id: entry.id, reason: 'content does not match its hash (altered)' };
    } else {
      this.prevHash = entry.hash;
      this.expectedId += 1;
    }
    return this.problem;
  }

  /** Compares the end of the chain with the recorded head, which catches entries removed from the end. */
  finish(head: { lastId: number; lastHash: string } | null): ChainProblem | null {
    if (this.problem) return this.problem;
    const lastId = this.expectedId - 1;
    const recordedId = head?.lastId ?? 0;
    const recordedHash = head?.lastHash ?? GENESIS_HASH;
    if (recordedId !== lastId || recordedHash !== this.prevHash) {
      this.problem =
        recordedId > lastId
          ? { id: lastId + 1, reason: `entries ${lastId + 1}..${recordedId} are missing from the end of the log` }
          : { id: recordedId + 1, reason: 'the log does not end where its recorded head says' };
    }
    return this.problem;
  }
}
