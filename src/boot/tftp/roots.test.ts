import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TftpRoots, type FileLookup, type ServedFile } from './roots.js';

let base: string;
let first: string;
let second: string;
let outside: string;

before(async () => {
  base = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'hangar-tftp-roots-')));
  first = path.join(base, 'boot');
  second = path.join(base, 'ipxe');
  outside = path.join(base, 'outside');
  for (const dir of [first, second, outside, path.join(first, 'sub'), path.join(first, 'dir')]) await fs.mkdir(dir);
  await fs.writeFile(path.join(first, 'shared.bin'), 'from first');
  await fs.writeFile(path.join(second, 'shared.bin'), 'from second');
  await fs.writeFile(path.join(second, 'only-second.bin'), 'second only');
  await fs.writeFile(path.join(second, 'dir'), 'shadowed by a directory in the first root');
  await fs.writeFile(path.join(first, 'sub', 'inner.bin'), 'inner');
  await fs.writeFile(path.join(outside, 'secret'), 'secret');
  await fs.symlink(path.join(outside, 'secret'), path.join(first, 'escape'));
  await fs.symlink(outside, path.join(first, 'escape-dir'));
  await fs.symlink('sub/inner.bin', path.join(first, 'inner-link'));
  await fs.symlink('loop', path.join(first, 'loop'));
  spawnSync('mkfifo', [path.join(first, 'fifo')], { timeout: 5000 });
});

after(async () => {
  await fs.rm(base, { recursive: true, force: true });
});

async function contentOf(lookup: FileLookup): Promise<string> {
  assert.equal(lookup.kind, 'found', JSON.stringify(lookup));
  const file = (lookup as { file: ServedFile }).file;
  const text = Buffer.from(await file.read(0, file.size)).toString();
  await file.close();
  return text;
}

describe('TftpRoots', () => {
  test('the first root that has the name serves it', async () => {
    const roots = await TftpRoots.open({ roots: [first, second] });
    assert.equal(await contentOf(await roots.lookup('shared.bin', 'octet')), 'from first');
    assert.equal(await contentOf(await roots.lookup('only-second.bin', 'octet')), 'second only');
    assert.deepEqual(await roots.lookup('nowhere.bin', 'octet'), { kind: 'not-found' });
  });

  test('a directory in an earlier root shadows a file of the same name in a later one', async () => {
    const roots = await TftpRoots.open({ roots: [first, second] });
    assert.deepEqual(await roots.lookup('dir', 'octet'), { kind: 'refused', reason: 'not-regular-file' });
  });

  test('symlinks inside the root are followed, out of it refused', async () => {
    const roots = await TftpRoots.open({ roots: [first] });
    assert.equal(await contentOf(await roots.lookup('inner-link', 'octet')), 'inner');
    assert.deepEqual(await roots.lookup('escape', 'octet'), { kind: 'refused', reason: 'outside-root' });
    assert.deepEqual(await roots.lookup('escape-dir/secret', 'octet'), { kind: 'refused', reason: 'outside-root' });
    assert.deepEqual(await roots.lookup('loop', 'octet'), { kind: 'refused', reason: 'permission-denied' });
  });

  test('an allowed outside file may be reached through a symlink, nothing else out there', async () => {
    const roots = await TftpRoots.open({ roots: [first], allowedOutsideFiles: [path.join(outside, 'secret')] });
    assert.equal(await contentOf(await roots.lookup('escape', 'octet')), 'secret');
    assert.equal(await contentOf(await roots.lookup('escape-dir/secret', 'octet')), 'secret');
    await fs.writeFile(path.join(outside, 'other'), 'other');
    assert.deepEqual(await roots.lookup('escape-dir/other', 'octet'), { kind: 'refused', reason: 'outside-root' });
  });

  test('a FIFO is refused without blocking the open', async () => {
    const roots = await TftpRoots.open({ roots: [first] });
    assert.deepEqual(await roots.lookup('fifo', 'octet'), { kind: 'refused', reason: 'not-regular-file' });
  });

  test('path refusals come from the name check', async () => {
    const roots = await TftpRoots.open({ roots: [first] });
    assert.deepEqual(await roots.lookup('../outside/secret', 'octet'), { kind: 'refused', reason: 'parent-segment' });
    assert.deepEqual(await roots.lookup('', 'octet'), { kind: 'refused', reason: 'empty' });
  });

  test('netascii is converted and sized after conversion', async () => {
    await fs.writeFile(path.join(first, 'text.cfg'), 'a\nb\n');
    const roots = await TftpRoots.open({ roots: [first] });
    const lookup = await roots.lookup('text.cfg', 'netascii');
    assert.equal(lookup.kind === 'found' && lookup.file.size, 6);
    assert.equal(await contentOf(lookup), 'a\r\nb\r\n');
  });

  test('small files are read once for concurrent requests and again after a change', async () => {
    const file = path.join(first, 'hot.bin');
    await fs.writeFile(file, 'version one');
    const roots = await TftpRoots.open({ roots: [first] });
    const fetchHot = async () => contentOf(await roots.lookup('hot.bin', 'octet'));
    const texts = await Promise.all(Array.from({ length: 20 }, fetchHot));
    assert.ok(texts.every((text) => text === 'version one'));
    assert.equal(roots.cacheLoads, 1);
    assert.equal(roots.cacheHits, 19);
    // Same size, same mtime: only ctime and the inode tell the new version apart.
    const { mtime } = await fs.stat(file);
    await fs.writeFile(`${file}.new`, 'version two');
    await fs.utimes(`${file}.new`, mtime, mtime);
    await fs.rename(`${file}.new`, file);
    assert.equal(await contentOf(await roots.lookup('hot.bin', 'octet')), 'version two');
    assert.equal(roots.cacheLoads, 2);
  });

  test('files over the cache limit are read from the file, block by block', async () => {
    await fs.writeFile(path.join(first, 'large.bin'), Buffer.alloc(5000, 7));
    const roots = await TftpRoots.open({ roots: [first], cache: { maxFileBytes: 1000 } });
    const lookup = await roots.lookup('large.bin', 'octet');
    assert.equal(lookup.kind, 'found');
    if (lookup.kind !== 'found') return;
    assert.deepEqual(await lookup.file.read(4990, 100), Buffer.alloc(10, 7), 'a read past the end is short');
    await lookup.file.close();
    assert.equal(roots.cacheLoads, 0);
  });

  test('reads of a large file are right in any order, across read-ahead boundaries', async () => {
    const content = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));
    await fs.writeFile(path.join(first, 'pattern.bin'), content);
    const roots = await TftpRoots.open({ roots: [first], cache: { maxFileBytes: 0 } });
    const lookup = await roots.lookup('pattern.bin', 'octet');
    assert.equal(lookup.kind, 'found');
    if (lookup.kind !== 'found') return;
    // Sequential blocks, a rollback, a jump back to the start, a window straddling a read-ahead edge, the tail.
    const reads = [[0, 1468], [1468, 1468], [2936, 1468], [1468, 23488], [0, 8], [65_000, 2000], [199_000, 1000]] as const;
    for (const [offset, length] of reads) {
      const expected = content.subarray(offset, offset + length);
      assert.deepEqual(await lookup.file.read(offset, length), expected, `${offset}+${length}`);
    }
    await lookup.file.close();
  });

  test('a missing root is a configuration error', async () => {
    await assert.rejects(TftpRoots.open({ roots: [path.join(base, 'missing')] }), /ENOENT/);
    await assert.rejects(TftpRoots.open({ roots: [path.join(second, 'shared.bin')] }), /not a directory/);
    await assert.rejects(TftpRoots.open({ roots: [] }), RangeError);
  });
});
