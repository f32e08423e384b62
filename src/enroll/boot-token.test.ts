import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { issueBootToken, verifyBootToken } from './boot-token.js';

const secret = randomBytes(32);
const claims = { mac: '52:54:00:12:34:56', boot: 'b-1', expires: 1_000_000 };
const at = (nowSeconds: number, mac = claims.mac) => ({ mac, nowSeconds });

describe('boot tokens', () => {
  test('a token verifies for its MAC until it expires, and carries its claims', () => {
    const token = issueBootToken(claims, secret);
    assert.match(token, /^hb1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(verifyBootToken(token, secret, at(999_999)), { ok: true, claims });
    assert.deepEqual(verifyBootToken(token, secret, at(1_000_000)), { ok: true, claims });
    const expired = verifyBootToken(token, secret, at(1_000_001));
    assert.equal(expired.ok, false);
    assert.equal(!expired.ok && expired.reason, 'expired');
    const other = verifyBootToken(token, secret, at(0, '52:54:00:12:34:57'));
    assert.equal(!other.ok && other.reason, 'wrong-mac');
  });

  test('another secret, or any changed character, fails the signature', () => {
    const token = issueBootToken(claims, secret);
    const foreign = verifyBootToken(token, randomBytes(32), at(0));
    assert.equal(!foreign.ok && foreign.reason, 'bad-signature');
    fc.assert(
      fc.property(fc.nat({ max: token.length - 1 }), fc.constantFrom(...'ABCxyz019-_.'), (index, character) => {
        fc.pre(token[index] !== character);
        const changed = token.slice(0, index) + character + token.slice(index + 1);
        const result = verifyBootToken(changed, secret, at(0));
        assert.equal(result.ok, false, changed);
      }),
      { numRuns: 500 },
    );
  });

  test('garbage never throws and is called malformed', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const result = verifyBootToken(text, secret, at(0));
        assert.equal(result.ok, false);
      }),
      { numRuns: 500 },
    );
    const result = verifyBootToken('hb1..', secret, at(0));
    assert.equal(!result.ok && result.reason, 'malformed');
  });

  test('a short secret is refused', () => {
    assert.throws(() => issueBootToken(claims, Buffer.alloc(8)), /at least 32 bytes/);
  });
});
