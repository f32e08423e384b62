import type { Kysely, Migration } from 'kysely';
import type { Backend } from '../store.js';
import { runStatements } from './columns.js';

/**
 * The DHCP server's leases (boot/dhcp/lease-store.ts): one row per address, replaced as the address changes hands.
 * Offer holds are never stored; rows are bound, declined or released leases.
 */
export function dhcpLeases(backend: Backend): Migration {
  return {
    async up(db: Kysely<unknown>) {
      const statements = [
        db.schema
          .createTable('dhcp_leases')
          .addColumn('address', 'text', (c) => c.primaryKey())
          .addColumn('mac', 'text')
          .addColumn('subnet', 'text', (c) => c.notNull())
          .addColumn('state', 'text', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .addColumn('hostname', 'text')
          .addColumn('client_id', 'text')
          .addColumn('updated', 'text', (c) => c.notNull()),
        db.schema.createIndex('dhcp_leases_mac').on('dhcp_leases').columns(['mac']),
      ];
      await runStatements(db, backend, statements);
    },
  };
}
