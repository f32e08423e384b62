/**
 * The files a TFTP server may send: an ordered list of root directories (the boot directory layered over
 * /usr/lib/ipxe), searched in order, and nothing whose real path lies outside the root it was found in. Small files
 * are kept in memory, because a rack booting at once asks for the same iPXE binary dozens of times.
 */
import { constants, promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import type { TftpMode } from './codec.js';
import { requestCandidates, type RequestPathRefusal } from './filename.js';
import { toNetascii } from './netascii.js';

/** A file opened for one transfer. */
export interface ServedFile {
  /** The real path it was opened at, for logs and events. */
  readonly realPath: string;
  /** Bytes to send (for netascii, after conversion). */
  readonly size: number;
  /** The bytes at offset..offset+length; fewer only if the file shrank during the transfer. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export type LookupRefusal =
  | RequestPathRefusal
  /** The real path (after symlinks) leaves the root the name was found in. */
  | 'outside-root'
  | 'not-regular-file'
  | 'permission-denied'
  | 'netascii-too-large';

export type FileLookup =
  | { readonly kind: 'found'; readonly file: ServedFile }
  | { readonly kind: 'not-found' }
  | { readonly kind: 'refused'; readonly reason: LookupRefusal };

export interface TftpCacheLimits {
  /** Files up to this size are served from memory. Default 2 MiB (the iPXE binaries); 0 turns the cache off. */
  readonly maxFileBytes: number;
  /** The whole cache, least recently used files dropped first. Default 32 MiB. */
  readonly maxTotalBytes: number;
}

export interface TftpRootsOptions {
  /** Directories searched in order; the first that has the name serves it. */
  readonly roots: readonly string[];
  /**
   * Files outside every root that a symlink inside a root may lead to. Debian's ipxe package needs
   * ['/boot/ipxe.efi']: its /usr/lib/ipxe/ipxe.efi is a symlink to it.
   */
  readonly allowedOutsideFiles?: readonly string[];
  readonly cache?: Partial<TftpCacheLimits>;
}

export const DEFAULT_CACHE_LIMITS: TftpCacheLimits = { maxFileBytes: 2 * 1024 * 1024, maxTotalBytes: 32 * 1024 * 1024 };

/** Bytes read at once from a large file: about three windows of 16 blocks of 1468 bytes. */
const READ_AHEAD_BYTES = 64 * 1024;

/** netascii is converted in memory; boot files are binary, so only small text files need it. */
export const NETASCII_MAX_FILE_BYTES = 8 * 1024 * 1024;

interface Root {
  /** As configured, normalised: what an absolute request name spells. */
  readonly configured: string;
  /** After symlinks: what confinement compares against. */
  readonly real: string;
}

/** Errors that mean "not here": look in the next root. */
const ABSENT = new Set(['ENOENT', 'ENOTDIR', 'ENAMETOOLONG']);
/** Errors that mean "here, but not for you". */
const FORBIDDEN = new Set(['EACCES', 'EPERM', 'ELOOP']);

function errorCode(error: unknown): string | undefined {
  return error instanceof Error && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

function isInside(real: string, root: string): boolean {
  return real === root || real.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
}

/** Reads exactly length bytes at offset unless the file ends first. */
async function readAt(handle: fs.FileHandle, offset: number, length: number): Promise<Uint8Array> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

function memoryFile(realPath: string, content: Uint8Array): ServedFile {
  return {
    realPath,
    size: content.length,
    read: async (offset, length) => content.subarray(offset, offset + length),
    close: async () => {},
  };
}

/**
 * A large file read through a read-ahead buffer: a lock-step transfer asks for one block per round trip, and a
 * thread-pool read per block costs more than the round trip itself.
 */
function handleFile(realPath: string, handle: fs.FileHandle, size: number): ServedFile {
  let ahead: { offset: number; bytes: Uint8Array } = { offset: 0, bytes: new Uint8Array() };
  return {
    realPath,
    size,
    async read(offset, length) {
      const start = offset - ahead.offset;
      if (start >= 0 && start + length <= ahead.bytes.length) return ahead.bytes.subarray(start, start + length);
      const bytes = await readAt(handle, offset, Math.max(length, Math.min(READ_AHEAD_BYTES, size - offset)));
      ahead = { offset, bytes };
      return bytes.subarray(0, length);
    },
    close: () => handle.close(),
  };
}

interface CacheEntry {
  /** Identity and version of the file: a replaced or rewritten file gets a new key. */
  readonly version: string;
  readonly bytes: number;
  readonly content: Promise<Uint8Array>;
}

/** Whole small files by real path; concurrent requests for the same version share one read. */
class ContentCache {
  private readonly entries = new Map<string, CacheEntry>();
  private totalBytes = 0;
  hits = 0;
  loads = 0;

  constructor(readonly limits: TftpCacheLimits) {}

  /** The file's content, from memory when this version was read before. */
  get(realPath: string, stats: Stats, load: () => Promise<Uint8Array>): Promise<Uint8Array> {
    // ctime cannot be set from user space, so a rewrite that restores size and mtime (rsync -t) still shows.
    const version = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}`;
    const entry = this.entries.get(realPath);
    if (entry && entry.version === version) {
      this.hits++;
      // Re-inserting keeps the Map in least-recently-used order.
      this.entries.delete(realPath);
      this.entries.set(realPath, entry);
      return entry.content;
    }
    if (entry) this.remove(realPath, entry);
    if (stats.size > this.limits.maxFileBytes || stats.size > this.limits.maxTotalBytes) return load();
    this.loads++;
    const content = load().then((bytes) => {
      if (bytes.length !== stats.size) throw new Error(`${realPath} changed while it was read`);
      return bytes;
    });
    const fresh: CacheEntry = { version, bytes: stats.size, content };
    this.entries.set(realPath, fresh);
    this.totalBytes += fresh.bytes;
    content.catch(() => this.remove(realPath, fresh));
    this.evict();
    return content;
  }

  private remove(realPath: string, entry: CacheEntry): void {
    if (this.entries.get(realPath) !== entry) return;
    this.entries.delete(realPath);
    this.totalBytes -= entry.bytes;
  }

  private evict(): void {
    for (const [realPath, entry] of this.entries) {
      if (this.totalBytes <= this.limits.maxTotalBytes) return;
      this.remove(realPath, entry);
    }
  }
}

export class TftpRoots {
  private readonly cache: ContentCache;

  private constructor(
    private readonly roots: readonly Root[],
    private readonly allowedOutsideFiles: ReadonlySet<string>,
    cacheLimits: TftpCacheLimits,
  ) {
    this.cache = new ContentCache(cacheLimits);
  }

  /** Resolves the roots once; a root that is missing or not a directory is a configuration error and throws. */
  static async open(options: TftpRootsOptions): Promise<TftpRoots> {
    if (options.roots.length === 0) throw new RangeError('a TFTP server needs at least one root');
    const roots: Root[] = [];
    for (const root of options.roots) {
      const configured = path.resolve(root);
      const real = await fs.realpath(configured);
      if (!(await fs.stat(real)).isDirectory()) throw new Error(`TFTP root ${root} is not a directory`);
      roots.push({ configured, real });
    }
    const allowed = new Set<string>();
    for (const file of options.allowedOutsideFiles ?? []) {
      allowed.add(path.resolve(file));
      // Also its real path, in case the allowed file itself sits behind a symlinked directory.
      await fs.realpath(file).then((real) => allowed.add(real), () => {});
    }
    const cacheLimits = { ...DEFAULT_CACHE_LIMITS, ...options.cache };
    return new TftpRoots(roots, allowed, cacheLimits);
  }

  get cacheHits(): number {
    return this.cache.hits;
  }

  /** Files read into the cache (a hit or a large file is not a load). */
  get cacheLoads(): number {
    return this.cache.loads;
  }

  /**
   * Finds and opens a requested file. The first root that has an entry of that name decides: a directory or an
   * escaping symlink there is refused rather than looked up further. Unexpected I/O errors are thrown.
   */
  async lookup(requested: string, mode: TftpMode): Promise<FileLookup> {
    const where = requestCandidates(requested, this.roots.map((root) => root.configured));
    if (!where.ok) return { kind: 'refused', reason: where.reason };
    for (const candidate of where.candidates) {
      const root = this.roots[candidate.root];
      if (!root) continue;
      let real: string;
      try {
        real = await fs.realpath(path.join(root.real, candidate.path));
      } catch (error) {
        const code = errorCode(error);
        if (code && ABSENT.has(code)) continue;
        if (code && FORBIDDEN.has(code)) return { kind: 'refused', reason: 'permission-denied' };
        throw error;
      }
      if (!isInside(real, root.real) && !this.allowedOutsideFiles.has(real)) {
        return { kind: 'refused', reason: 'outside-root' };
      }
      return this.openFound(real, mode);
    }
    return { kind: 'not-found' };
  }

  private async openFound(real: string, mode: TftpMode): Promise<FileLookup> {
    let handle: fs.FileHandle;
    try {
      // O_NOFOLLOW: a symlink swapped in since realpath is refused; O_NONBLOCK: opening a FIFO must not hang.
      handle = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      const code = errorCode(error);
      if (code && ABSENT.has(code)) return { kind: 'not-found' };
      if (code && FORBIDDEN.has(code)) return { kind: 'refused', reason: 'permission-denied' };
      throw error;
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) return await this.refuse(handle, 'not-regular-file');
      if (mode === 'netascii') {
        if (stats.size > NETASCII_MAX_FILE_BYTES) return await this.refuse(handle, 'netascii-too-large');
        const content = await this.cache.get(real, stats, () => readAt(handle, 0, stats.size));
        await handle.close();
        return { kind: 'found', file: memoryFile(real, toNetascii(content)) };
      }
      if (stats.size <= this.cache.limits.maxFileBytes) {
        const content = await this.cache.get(real, stats, () => readAt(handle, 0, stats.size));
        await handle.close();
        return { kind: 'found', file: memoryFile(real, content) };
      }
      return { kind: 'found', file: handleFile(real, handle, stats.size) };
    } catch (error) {
      await handle.close().catch(() => {});
      throw error;
    }
  }

  private async refuse(handle: fs.FileHandle, reason: LookupRefusal): Promise<FileLookup> {
    await handle.close();
    return { kind: 'refused', reason };
  }
}
