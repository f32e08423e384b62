import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChainVerifier, GENESIS_HASH, entryHash, type ChainedAuditRecord } from './chain.js';

function chain(n: number): ChainedAuditRecord[] {
  const out: ChainedAuditRecord[] = [];
  let prev = GENESIS_HASH;
  for (let id = 1; id <= n; id++) {
    const record = {
      id,
      time: `2026-01-01T00:00:${String(id % 60).padStart(2, '0')}.000Z`,
      actor: 'token:1',
      action: 'create',
      objectType: 'thing',
      objectId: String(id),
      before: null,
      after: { name: `thing-${id}`, nested: { b: 2, a: 1 } },
      context: null,
    };
    const hash = entryHash(prev, record);
    out.push({ ...record, prevHash: prev, hash });
    prev = hash;
  }
  return out;
}

function verify(entries: ChainedAuditRecord[], head: { lastId: number; lastHash: string } | null) {
  const verifier = new ChainVerifier();
  for (const entry of entries) if (verifier.add(entry)) break;
  return verifier.finish(head);
}

const headOf = (entries: ChainedAuditRecord[]) => {
  const last = entries.at(-1);
  return last ? { lastId: last.id, lastHash: last.hash } : null;
};

describe('audit chain', () => {
  test('an intact chain verifies, including the empty one', () => {
    const entries = chain(5);
    assert.equal(verify(entries, headOf(entries)), null);
    assert.equal(verify([], null), null);
  });

  test('hashes do not depend on key order', () => {
    const [entry] = chain(1);
    assert.ok(entry);
    const reordered = { ...entry, after: { nested: { a: 1, b: 2 }, name: 'thing-1' } };
    assert.equal(entryHash(GENESIS_HASH, reordered), entry.hash);
  });

  test('an altered field names that entry', () => {
    const entries = chain(5);
    entries[2] = { ...entries[2]!, actor: 'someone-else' };
    assert.deepEqual(verify(entries, headOf(entries)), { id: 3, reason: 'content does not match its hash (altered)' });
  });

  test('an entry removed from the middle is named', () => {
    const entries = chain(5);
    const head = headOf(entries);
    entries.splice(1, 1);
    assert.equal(verify(entries, head)?.id, 2);
  });

  test('entries removed from the end are caught by the head', () => {
    const entries = chain(5);
    const head = headOf(entries);
    assert.deepEqual(verify(entries.slice(0, 3), head), {
      id: 4,
      reason: 'entries 4..5 are missing from the end of the log',
    });
  });

  test('two entries whose contents were swapped (renumbered) are caught', () => {
    const entries = chain(5);
    const a = entries[1]!;
    const b = entries[2]!;
    entries[1] = { ...b, id: a.id };
    entries[2] = { ...a, id: b.id };
    assert.equal(verify(entries, headOf(entries))?.id, 2);
  });

  test('any single mutation of any entry is detected (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.nat(), fc.string({ minLength: 1 }), (n, pick, text) => {
        const entries = chain(n);
        const head = headOf(entries);
        const index = pick % n;
        const original = entries[index]!;
        fc.pre(original.objectId !== text);
        entries[index] = { ...original, objectId: text };
        return verify(entries, head)?.id === original.id;
      }),
      { numRuns: 300 },
    );
  });
});
