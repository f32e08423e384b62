import type { Migration, MigrationProvider } from 'kysely';
import type { Backend } from '../store.js';
import { foundation } from './0001_foundation.js';
import { ipamRuns } from './0002_ipam_runs.js';
import { inventory } from './0003_inventory.js';
import { bootFleet } from './0004_boot_fleet.js';
import { dhcpLeases } from './0005_dhcp_leases.js';
import { dhcpJournal } from './0006_dhcp_journal.js';
import { imageFilesMirrors } from './0007_image_files_mirrors.js';

/**
 * The one migration history. Each entry is a function of the backend, because a few column types differ
 * (auto-increment ids); everything else is the same SQL.
 */
const history: ReadonlyArray<[string, (backend: Backend) => Migration]> = [
  ['0001_foundation', foundation],
  ['0002_ipam_runs', ipamRuns],
  ['0003_inventory', inventory],
  ['0004_boot_fleet', bootFleet],
  ['0005_dhcp_leases', dhcpLeases],
  ['0006_dhcp_journal', dhcpJournal],
  ['0007_image_files_mirrors', imageFilesMirrors],
];

export function migrationProvider(backend: Backend): MigrationProvider {
  return {
    async getMigrations() {
      return Object.fromEntries(history.map(([name, make]) => [name, make(backend)]));
    },
  };
}
