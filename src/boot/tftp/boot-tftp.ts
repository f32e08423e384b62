/**
 * The TFTP side of the boot service: `hangar serve --tftp` serves DATA/tftp (the site's own boot files) over the
 * iPXE binaries of Debian's `ipxe` package, and records every transfer as a boot event.
 */

import { mkdirSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { EventLog } from '../../events/log.js';
import { leaseHolder } from '../dhcp/lease-store.js';
import type { Store } from '../../store/store.js';
import type { TftpRootsOptions } from './roots.js';
import { TftpServer } from './server.js';

/** Debian's `ipxe` package: undionly.kpxe, snponly.efi; ipxe.efi and ipxe.lkrn are symlinks into /boot. */
export const IPXE_DIR = '/usr/lib/ipxe';

/** The boot files TFTP and UEFI HTTP boot (`/boot/files/`) serve: the site's DATA/tftp over Debian's iPXE binaries. */
export function bootFileRoots(bootDir: string): TftpRootsOptions {
  return { roots: [bootDir, IPXE_DIR], allowedOutsideFiles: ['/boot/ipxe.efi', '/boot/ipxe.lkrn'] };
}

export async function startBootTftp(
  listen: { address: string; port: number },
  bootDir: string,
  services: { store: Store; events: EventLog },
  log: (message: string, fields?: Record<string, unknown>) => void,
): Promise<TftpServer> {
  mkdirSync(bootDir, { recursive: true });
  return TftpServer.start({
    ...bootFileRoots(bootDir),
    address: listen.address,
    port: listen.port,
    log,
    onTransfer: (transfer) => {
      const refused = transfer.outcome === 'busy' || transfer.outcome === 'refused';
      void leaseHolder(services.store.db as unknown as Kysely<unknown>, transfer.client.address)
        .then((mac) =>
          services.events.record(services.store, {
            type: refused ? 'boot.refused' : 'boot.file',
            subject: mac ?? transfer.client.address,
            actor: 'tftp',
            data: {
              protocol: 'tftp',
              client: transfer.client.address,
              file: transfer.file,
              outcome: transfer.outcome,
              bytes: transfer.bytes,
              duration_ms: Math.round(transfer.durationMs),
              ...(transfer.reason === null ? {} : { reason: transfer.reason }),
            },
          }),
        )
        .catch((error: unknown) => log('tftp event not recorded', { error: String(error) }));
    },
  });
}
