/**
 * What a network-booting client is told to load. Pure: the client's DHCP options in, a boot file and the
 * options to echo out.
 *
 * The chain: BIOS PXE ROMs load iPXE (undionly.kpxe) over TFTP, UEFI PXE ROMs load ipxe.efi over TFTP, UEFI
 * HTTP boot loads ipxe.efi over HTTP; iPXE then asks again and gets its per-machine script URL. iPXE is told
 * apart by user class 77 "iPXE" or option 175, so it is never handed the iPXE binary again.
 */

import type { DhcpPacket } from './codec.js';

export interface BootFiles {
  /** iPXE for BIOS PXE ROMs, e.g. 'undionly.kpxe'. */
  readonly bios: string;
  /** iPXE for x86-64 UEFI, e.g. 'ipxe.efi'. */
  readonly uefiX64: string;
  /** iPXE for arm64 UEFI, e.g. 'ipxe-arm64.efi'. */
  readonly uefiArm64: string;
  /** iPXE for 32-bit UEFI; without it such clients get uefiX64, which only works if the firmware misreports. */
  readonly uefiIa32?: string;
}

export const DEFAULT_BOOT_FILES: BootFiles = {
  bios: 'undionly.kpxe',
  uefiX64: 'ipxe.efi',
  uefiArm64: 'ipxe-arm64.efi',
};

/** Option 93 values (RFC 4578, IANA "Processor Architecture Types"); 7 and 9 are both x86-64 UEFI. */
export const ClientArchitecture = {
  bios: 0,
  uefiIa32: 6,
  uefiX64: 7,
  uefiX64Bc: 9,
  uefiArm64: 11,
  uefiIa32Http: 15,
  uefiX64Http: 16,
  uefiArm64Http: 19,
} as const;

/** Where the boot files live, for one answer. */
export interface BootServers {
  /** The address the DHCP server answers from (its option 54). */
  readonly serverAddress: string;
  /** TFTP server for siaddr; null means serverAddress. */
  readonly nextServer: string | null;
  /** host[:port] of the HTTP boot service; null means serverAddress:httpPort. */
  readonly bootServer: string | null;
  readonly httpPort: number;
}

/** The options of a client packet the decision reads; a decoded DhcpPacket is one. */
export type BootClient = Pick<
  DhcpPacket,
  'chaddr' | 'vendorClass' | 'userClasses' | 'hasIpxeOptions' | 'clientArchitectures'
>;

export type BootKind = 'ipxe' | 'uefi-http' | 'pxe';

export interface BootFile {
  readonly kind: BootKind;
  /** A TFTP path for PXE, a full http:// URL for UEFI HTTP boot and iPXE. */
  readonly file: string;
  /** siaddr: the TFTP server for PXE, null (0.0.0.0) otherwise. */
  readonly nextServer: string | null;
  /** Option 60 to put in the reply: the client's own class, which tells PXE and HTTP clients the offer is for them. */
  readonly vendorClass: 'PXEClient' | 'HTTPClient' | null;
  /** Option 43 with PXE discovery control 8 (use the boot file, skip boot server discovery): BIOS PXE ROMs. */
  readonly discoveryControl: boolean;
  /** The architecture the file was chosen for; null for iPXE, whose script does not depend on it. */
  readonly architecture: number | null;
}

export type BootDecision =
  | BootFile
  /** Not a network-boot client: no boot file. */
  | { readonly kind: 'none' }
  /** A network-boot client Hangar has no file for; `reason` is for the event log. */
  | { readonly kind: 'unsupported'; readonly reason: string };

export function isBootFile(decision: BootDecision): decision is BootFile {
  return decision.kind === 'ipxe' || decision.kind === 'uefi-http' || decision.kind === 'pxe';
}

export function decideBoot(client: BootClient, files: BootFiles, servers: BootServers): BootDecision {
  const classText = client.vendorClass ?? '';
  const vendorClass = classText.startsWith('PXEClient')
    ? 'PXEClient'
    : classText.startsWith('HTTPClient')
      ? 'HTTPClient'
      : null;
  const isIpxe = client.hasIpxeOptions || (client.userClasses?.includes('iPXE') ?? false);
  if (isIpxe) {
    if (client.chaddr === null) return { kind: 'unsupported', reason: 'iPXE client without an Ethernet MAC' };
    const file = `${httpBase(servers)}/boot/ipxe/${client.chaddr}`;
    // siaddr is set although the file is a URL: iPXE takes a ProxyDHCP answer only with next-server and a file.
    return { kind: 'ipxe', file, nextServer: servers.nextServer ?? servers.serverAddress, vendorClass, discoveryControl: false, architecture: null };
  }
  if (vendorClass === null) return { kind: 'none' };

  const http = vendorClass === 'HTTPClient';
  // HTTP boot clients all send option 93; PXE ROMs old enough to omit it are BIOS ones (PXE 2.0).
  const assumed = http ? ClientArchitecture.uefiX64Http : ClientArchitecture.bios;
  const architectures = client.clientArchitectures ?? [architectureInVendorClass(classText) ?? assumed];
  const chosen = chooseFile(architectures, files, http);
  if (chosen === undefined) {
    const reason = `no boot file for ${http ? 'HTTP' : 'PXE'} architecture ${architectures.join(',')}`;
    return { kind: 'unsupported', reason };
  }
  const { architecture } = chosen;
  if (http) {
    const file = `${httpBase(servers)}/boot/files/${encodeURI(chosen.file)}`;
    return { kind: 'uefi-http', file, nextServer: null, vendorClass, discoveryControl: false, architecture };
  }
  return {
    kind: 'pxe',
    file: chosen.file,
    nextServer: servers.nextServer ?? servers.serverAddress,
    vendorClass,
    discoveryControl: architecture === ClientArchitecture.bios,
    architecture,
  };
}

function httpBase(servers: BootServers): string {
  return `http://${servers.bootServer ?? `${servers.serverAddress}:${servers.httpPort}`}`;
}

/** `PXEClient:Arch:00007:UNDI:003016` carries the architecture too; option 93 wins when both are present. */
function architectureInVendorClass(vendorClass: string): number | undefined {
  const match = /:Arch:(\d{5})/.exec(vendorClass);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The first of the client's architectures with a file of its own; failing that, ia32 UEFI gets the x64 file
 * (no better option when no ia32 build is configured). BIOS has no HTTP boot.
 */
function chooseFile(
  architectures: readonly number[],
  files: BootFiles,
  http: boolean,
): { file: string; architecture: number } | undefined {
  let fallback: { file: string; architecture: number } | undefined;
  for (const architecture of architectures) {
    switch (architecture) {
      case ClientArchitecture.bios:
        if (!http) return { file: files.bios, architecture };
        break;
      case ClientArchitecture.uefiX64:
      case ClientArchitecture.uefiX64Bc:
      case ClientArchitecture.uefiX64Http:
        return { file: files.uefiX64, architecture };
      case ClientArchitecture.uefiArm64:
      case ClientArchitecture.uefiArm64Http:
        return { file: files.uefiArm64, architecture };
      case ClientArchitecture.uefiIa32:
      case ClientArchitecture.uefiIa32Http:
        if (files.uefiIa32 !== undefined) return { file: files.uefiIa32, architecture };
        fallback ??= { file: files.uefiX64, architecture };
        break;
    }
  }
  return fallback;
}
