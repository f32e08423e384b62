import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { listSegments, readJournal } from '../../src/boot/dhcp/lease-journal.js';
import { indexedPosition, journalName } from '../../src/boot/dhcp/lease-store.js';
import { openServices } from '../../src/main.js';

export interface StoredLease {
  address: string;
  mac: string | null;
  state: string;
  hostname: string | null;
}

/**
 * The dhcp_leases rows of a store, once the DHCP server has indexed its lease journal (a quarter second behind):
 * waits until the position the store records is the end of the journal's written content.
 */
export async function storedLeases(dataDir: string): Promise<StoredLease[]> {
  const journalDir = join(dataDir, 'dhcp-journal');
  const services = await openServices({ dataDir });
  try {
    const db = services.store.db as unknown as Kysely<unknown>;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const written = listSegments(journalDir)
        .map((segment) => ({ segment, offset: readJournal(journalDir, segment, 0).length }))
        .filter((end) => end.offset > 0)
        .at(-1);
      const indexed = await indexedPosition(db, journalName(journalDir));
      if (!written || (indexed.segment === written.segment && indexed.offset === written.offset)) break;
      if (Date.now() > deadline) throw new Error(`the DHCP lease journal in ${journalDir} was not indexed within 10 s`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return (await sql<StoredLease>`select address, mac, state, hostname from dhcp_leases order by address`.execute(db)).rows;
  } finally {
    await services.store.close();
  }
}
