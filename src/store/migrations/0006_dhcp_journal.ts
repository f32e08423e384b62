import type { Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { runStatements } from './columns.js';

/**
 * How far the store has indexed each DHCP server's lease journal (boot/dhcp/lease-journal.ts): the segment and
 * byte offset up to which its leases and events are in dhcp_leases and events. A journal is named by host and directory, so several
 * servers on one PostgreSQL store keep their own.
 */
export function dhcpJournal(backend: Backend): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await runStatements(db, backend, [
        db.schema
          .createTable('dhcp_journals')
          .addColumn('journal', 'text', (c) => c.primaryKey())
          .addColumn('segment', 'bigint', (c) => c.notNull())
          .addColumn('byte_offset', 'bigint', (c) => c.notNull()),
      ]);
    },
  };
}
