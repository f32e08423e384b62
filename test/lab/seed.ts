import { createReadStream } from 'node:fs';
import type { Principal } from '../../src/auth/principal.js';
import { openServices } from '../../src/main.js';

/** Creates an object through the inventory service (validation, audit and events as for the API) and returns its id. */
export type CreateObject = (objectType: string, item: Record<string, unknown>) => Promise<number>;

const SEEDER: Principal = { actor: 'test-seed', scope: 'admin', tenant: null };

/** Registers a local file as the kernel, initrd or rootfs of an image version, as an upload would. */
export type RegisterImageFile = (versionId: number, role: string, path: string) => Promise<void>;

/** Opens the store at `dataDir`, lets `work` create objects in it, and closes it again (before a server opens it). */
export async function seedStore(dataDir: string, work: (create: CreateObject, registerImageFile: RegisterImageFile) => Promise<void>): Promise<void> {
  const services = await openServices({ dataDir });
  try {
    await work(
      async (objectType, item) => {
        const [row] = await services.inventory.create(services.resources.get(objectType), [item], SEEDER, ['body']);
        return Number(row!.id);
      },
      async (versionId, role, path) => {
        await services.images.register(versionId, role, createReadStream(path), undefined, SEEDER);
      },
    );
  } finally {
    await services.store.close();
  }
}
