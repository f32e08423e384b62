/**
 * The image catalogue's files. An image version names its kernel, initrd and optional root filesystem; each is
 * registered once by uploading it: the bytes are hashed as they arrive, checked against the sha256 the uploader
 * expects, synced, and moved into DATA/images/IMAGE/VERSION/FILE in one rename, and only then are its size and
 * sha256 recorded on the version. A registered file never changes (mirrors and machines cache it by checksum):
 * uploading the same bytes again is a no-op, different bytes are refused. A failed or refused upload leaves
 * nothing behind.
 */

import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Kysely } from 'kysely';
import type { Principal } from '../../auth/principal.js';
import { ConflictError, InvalidError } from '../../core/errors.js';
import type { DynamicDatabase, Row } from '../../inventory/model.js';
import type { InventoryService } from '../../inventory/service.js';
import type { Store } from '../../store/store.js';
import { bootImageVersion, IMAGE_FILE_ROLES, type ImageFileRole } from '../resources.js';

/** Larger than any boot image we know of, small enough to stop a runaway upload from filling the disk. */
export const MAX_IMAGE_FILE_BYTES = 64 * 1024 ** 3;

const SHA256 = /^[0-9a-f]{64}$/;

/** A file an image version declares, with its registration (null until registered). */
export interface ImageFile {
  role: ImageFileRole;
  size: number | null;
  sha256: string | null;
}

type VersionTables = {
  boot_images: { id: number; name: string };
  boot_image_versions: Record<string, unknown> & { id: number; image_id: number; version: string };
};

/** The file `file` of IMAGE@VERSION, when that version declares it. */
export async function imageFile(database: Kysely<unknown>, image: string, version: string, file: string): Promise<ImageFile | null> {
  const db = database as Kysely<VersionTables>;
  const row = await db
    .selectFrom('boot_image_versions as v')
    .innerJoin('boot_images as m', 'm.id', 'v.image_id')
    .selectAll('v')
    .where('m.name', '=', image)
    .where('v.version', '=', version)
    .executeTakeFirst();
  const role = row && IMAGE_FILE_ROLES.find((candidate) => row[candidate] === file);
  if (!row || !role) return null;
  const size = row[`${role}_size`];
  return { role, size: size == null ? null : Number(size), sha256: (row[`${role}_sha256`] as string) || null };
}

export class ImageCatalogue {
  constructor(
    private readonly store: Store,
    private readonly inventory: InventoryService,
    /** DATA/images */
    private readonly imagesDir: string,
  ) {}

  /**
   * Registers the `role` file of image version `versionId` from `content`. `expectedSha256`, when given, must match
   * the bytes received. Returns the version as stored afterwards.
   */
  async register(versionId: number, role: string, content: Readable, expectedSha256: string | undefined, principal: Principal): Promise<Row> {
    if (!(IMAGE_FILE_ROLES as readonly string[]).includes(role)) {
      throw new InvalidError(`role: '${role}' is not one of ${IMAGE_FILE_ROLES.join(', ')}`, 'role');
    }
    const fileRole = role as ImageFileRole;
    const expected = expectedSha256?.toLowerCase();
    if (expected !== undefined && !SHA256.test(expected)) throw new InvalidError(`sha256: '${expectedSha256}' is not 64 hexadecimal digits`, 'sha256');
    const before = await this.inventory.get(bootImageVersion, versionId, principal);
    if (!before[fileRole]) {
      throw new InvalidError(`${fileRole}: image version ${versionId} names no ${fileRole} file; set its ${fileRole} field to the file name first`, fileRole);
    }

    const incoming = join(this.imagesDir, '.incoming', randomUUID());
    await mkdir(dirname(incoming), { recursive: true });
    try {
      const { size, sha256 } = await receive(content, incoming);
      if (size === 0) throw new InvalidError(`${fileRole}: the upload is empty; nothing was registered`, fileRole);
      if (expected !== undefined && sha256 !== expected) {
        throw new InvalidError(`${fileRole}: the upload's sha256 is ${sha256}, expected ${expected}; nothing was registered`, 'sha256');
      }
      return await this.store.transaction(async (tx) => {
        await this.inventory.lockFor(tx, bootImageVersion);
        const version = await this.inventory.get(bootImageVersion, versionId, principal, tx.db as unknown as Kysely<DynamicDatabase>);
        const file = String(version[fileRole]);
        if (version[`${fileRole}_size`] != null) {
          if (version[`${fileRole}_sha256`] === sha256) return version;
          throw new ConflictError(
            `${fileRole}: ${file} of this version is registered with sha256 ${String(version[`${fileRole}_sha256`])}; a registered file never changes, register a new version`,
          );
        }
        if (file !== before[fileRole]) throw new ConflictError(`${fileRole}: the version's ${fileRole} changed to ${file} during the upload; upload again`);
        const image = await (tx.db as unknown as Kysely<VersionTables>).selectFrom('boot_images').select('name').where('id', '=', Number(version.image_id)).executeTakeFirstOrThrow();
        const target = join(this.imagesDir, image.name, String(version.version), file);
        await mkdir(dirname(target), { recursive: true });
        await rename(incoming, target);
        await syncPath(dirname(target));
        return this.inventory.setDerivedIn(tx, bootImageVersion, versionId, { [`${fileRole}_size`]: size, [`${fileRole}_sha256`]: sha256 }, principal);
      });
    } finally {
      await rm(incoming, { force: true });
    }
  }
}

/** Writes `content` to `path`, hashing and counting on the way, and syncs it to disk. */
async function receive(content: Readable, path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  const measure = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length;
      if (size > MAX_IMAGE_FILE_BYTES) return done(new InvalidError(`the upload exceeds ${MAX_IMAGE_FILE_BYTES} bytes; nothing was registered`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(content, measure, createWriteStream(path, { flags: 'wx' }));
  await syncPath(path);
  return { size, sha256: hash.digest('hex') };
}

/** fsync of a file, or of a directory: a rename is durable once the directory holding it is synced. */
async function syncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
