import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { requestCandidates, resolveRequestPath } from './filename.js';

describe('resolveRequestPath', () => {
  test('plain names and subdirectories pass through', () => {
    assert.deepEqual(resolveRequestPath('pxelinux.0'), { ok: true, path: 'pxelinux.0' });
    assert.deepEqual(resolveRequestPath('pxelinux.cfg/01-52-54-00-12-34-56'), {
      ok: true,
      path: 'pxelinux.cfg/01-52-54-00-12-34-56',
    });
    assert.deepEqual(resolveRequestPath('ipxe/snponly.efi'), { ok: true, path: 'ipxe/snponly.efi' });
  });

  test('a leading slash means the TFTP root', () => {
    assert.deepEqual(resolveRequestPath('/pxelinux.0'), { ok: true, path: 'pxelinux.0' });
    assert.deepEqual(resolveRequestPath('//boot///grub/grub.cfg'), { ok: true, path: 'boot/grub/grub.cfg' });
    assert.deepEqual(resolveRequestPath('/etc/passwd'), { ok: true, path: 'etc/passwd' }, 'stays under the root');
  });

  test('backslashes from Windows clients are separators', () => {
    assert.deepEqual(resolveRequestPath('boot\\x64\\wdsnbp.com'), { ok: true, path: 'boot/x64/wdsnbp.com' });
    assert.deepEqual(resolveRequestPath('\\Boot\\BCD'), { ok: true, path: 'Boot/BCD' });
    assert.deepEqual(resolveRequestPath('pxelinux.cfg\\default'), { ok: true, path: 'pxelinux.cfg/default' });
  });

  test('. segments, repeated and trailing slashes are normalised away', () => {
    assert.deepEqual(resolveRequestPath('./a/./b/'), { ok: true, path: 'a/b' });
    assert.deepEqual(resolveRequestPath('a//b'), { ok: true, path: 'a/b' });
  });

  test('names that merely contain dots are fine', () => {
    assert.deepEqual(resolveRequestPath('...'), { ok: true, path: '...' });
    assert.deepEqual(resolveRequestPath('a..b/..c'), { ok: true, path: 'a..b/..c' });
    assert.deepEqual(resolveRequestPath('.hidden'), { ok: true, path: '.hidden' });
  });

  test('parent segments are refused, however they are spelled', () => {
    const names = ['..', '../etc/passwd', '/../etc/passwd', 'a/../../b', 'a/b/..', 'a/../b', '..\\..\\win', 'a\\..\\b'];
    for (const name of names) {
      assert.deepEqual(resolveRequestPath(name), { ok: false, reason: 'parent-segment' }, name);
    }
  });

  test('Windows drive letters are refused', () => {
    for (const name of ['C:\\Windows\\system.ini', 'c:/boot.ini', 'D:', '\\C:\\x', '/./d:x']) {
      assert.deepEqual(resolveRequestPath(name), { ok: false, reason: 'drive-letter' }, name);
    }
  });

  test('NUL bytes and control characters are refused', () => {
    assert.deepEqual(resolveRequestPath('pxelinux.0\0.png'), { ok: false, reason: 'nul-byte' });
    assert.deepEqual(resolveRequestPath('a\nb'), { ok: false, reason: 'control-character' });
    assert.deepEqual(resolveRequestPath('a\u007fb'), { ok: false, reason: 'control-character' });
  });

  test('empty names are refused', () => {
    for (const name of ['', '/', '.', './', '\\', '//./']) {
      assert.deepEqual(resolveRequestPath(name), { ok: false, reason: 'empty' }, JSON.stringify(name));
    }
  });

  test('any accepted path is relative, normalised and free of parent segments', () => {
    const piece = fc.constantFrom('a', 'b.c', '.', '..', '', '/', '\\', 'C:', ':', '\0', '\u0001', 'é');
    fc.assert(
      fc.property(fc.oneof(fc.array(piece, { maxLength: 12 }).map((parts) => parts.join('')), fc.string()), (name) => {
        const resolved = resolveRequestPath(name);
        if (!resolved.ok) return;
        const segments = resolved.path.split('/');
        assert.ok(segments.every((segment) => segment !== '' && segment !== '.' && segment !== '..'));
        assert.ok(!resolved.path.includes('\\') && !resolved.path.includes('\0'));
        assert.deepEqual(resolveRequestPath(resolved.path), resolved, 'resolving is idempotent');
      }),
      { numRuns: 3000 },
    );
  });
});

describe('requestCandidates', () => {
  const roots = ['/var/lib/hangar/boot', '/usr/lib/ipxe'];

  test('a relative or root-relative name is looked up under each root in order', () => {
    const expected = { ok: true, candidates: [{ root: 0, path: 'undionly.kpxe' }, { root: 1, path: 'undionly.kpxe' }] };
    assert.deepEqual(requestCandidates('undionly.kpxe', roots), expected);
    assert.deepEqual(requestCandidates('/undionly.kpxe', roots), expected);
  });

  test('an absolute name inside a root is also looked up as the rest of it under that root', () => {
    assert.deepEqual(requestCandidates('/usr/lib/ipxe/undionly.kpxe', roots), {
      ok: true,
      candidates: [
        { root: 0, path: 'usr/lib/ipxe/undionly.kpxe' },
        { root: 1, path: 'usr/lib/ipxe/undionly.kpxe' },
        { root: 1, path: 'undionly.kpxe' },
      ],
    });
  });

  test('a relative name, a root itself and a sibling with the root as prefix get nothing extra', () => {
    const count = (name: string) => {
      const result = requestCandidates(name, roots);
      return result.ok ? result.candidates.length : -1;
    };
    assert.equal(count('usr/lib/ipxe/x'), 2, 'relative');
    assert.equal(count('/usr/lib/ipxe'), 2, 'the root itself');
    assert.equal(count('/usr/lib/ipxe-old/x'), 2, 'a sibling');
  });

  test('refusals are those of resolveRequestPath', () => {
    assert.deepEqual(requestCandidates('/usr/lib/ipxe/../../../etc/shadow', roots), { ok: false, reason: 'parent-segment' });
    assert.deepEqual(requestCandidates('', roots), { ok: false, reason: 'empty' });
  });

  test('a root of / adds no duplicate', () => {
    assert.deepEqual(requestCandidates('/a/b', ['/']), { ok: true, candidates: [{ root: 0, path: 'a/b' }] });
  });

  test('every candidate is a relative path without parent segments', () => {
    const piece = fc.constantFrom('a', 'usr', 'lib', 'ipxe', '.', '..', '', '/', '\\');
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 10 }).map((parts) => parts.join('')), (name) => {
        const result = requestCandidates(name, roots);
        if (!result.ok) return;
        for (const { root, path } of result.candidates) {
          assert.ok(root >= 0 && root < roots.length);
          assert.ok(!path.startsWith('/') && path.split('/').every((segment) => segment !== '' && segment !== '..'));
        }
      }),
      { numRuns: 1000 },
    );
  });
});
