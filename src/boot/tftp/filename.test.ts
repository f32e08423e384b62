import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { resolveRequestPath } from './filename.js';

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
