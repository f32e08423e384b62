import type { Principal } from '../../src/auth/principal.js';
import { openServices } from '../../src/main.js';

/** Creates an object through the inventory service (validation, audit and events as for the API) and returns its id. */
export type CreateObject = (objectType: string, item: Record<string, unknown>) => Promise<number>;

const SEEDER: Principal = { actor: 'test-seed', scope: 'admin', tenant: null };

/** Opens the store at `dataDir`, lets `work` create objects in it, and closes it again (before a server opens it). */
export async function seedStore(dataDir: string, work: (create: CreateObject) => Promise<void>): Promise<void> {
  const services = await openServices({ dataDir });
  try {
    await work(async (objectType, item) => {
      const [row] = await services.inventory.create(services.resources.get(objectType), [item], SEEDER, ['body']);
      return Number(row!.id);
    });
  } finally {
    await services.store.close();
  }
}
