import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ClientArchitecture, decideBoot, DEFAULT_BOOT_FILES, isBootFile, type BootClient, type BootServers } from './boot-file.js';
import { DhcpMessageType } from './options.js';
import { CAPTURED_MAC, capturedPacket, clientPacket } from './engine-fixture.js';

const MAC = '52:54:00:12:34:56';
const SERVERS: BootServers = { serverAddress: '10.0.0.10', nextServer: null, bootServer: null, httpPort: 8080 };

function client(fields: Partial<BootClient>): BootClient {
  return { chaddr: MAC, vendorClass: undefined, userClasses: undefined, hasIpxeOptions: false, clientArchitectures: undefined, ...fields };
}

const pxe = (architecture: number): BootClient =>
  client({ vendorClass: `PXEClient:Arch:${String(architecture).padStart(5, '0')}:UNDI:003016`, clientArchitectures: [architecture] });

describe('decideBoot: PXE ROMs get iPXE over TFTP', () => {
  test('BIOS (arch 0): undionly.kpxe from the server, with PXE discovery control', () => {
    assert.deepEqual(decideBoot(pxe(0), DEFAULT_BOOT_FILES, SERVERS), {
      kind: 'pxe',
      file: 'undionly.kpxe',
      nextServer: '10.0.0.10',
      vendorClass: 'PXEClient',
      discoveryControl: true,
      architecture: 0,
    });
  });

  test('x86-64 UEFI is arch 7 or 9; arm64 is 11; none of them gets option 43', () => {
    for (const [architecture, file] of [
      [7, 'ipxe.efi'],
      [9, 'ipxe.efi'],
      [11, 'ipxe-arm64.efi'],
    ] as const) {
      const decision = decideBoot(pxe(architecture), DEFAULT_BOOT_FILES, SERVERS);
      assert.ok(isBootFile(decision));
      assert.equal(decision.file, file, `arch ${architecture}`);
      assert.equal(decision.discoveryControl, false);
      assert.equal(decision.vendorClass, 'PXEClient');
    }
  });

  test('ia32 UEFI (6) gets its own build when configured, else the x64 one as the only option', () => {
    const withIa32 = { ...DEFAULT_BOOT_FILES, uefiIa32: 'ipxe-i386.efi' };
    assert.equal((decideBoot(pxe(6), withIa32, SERVERS) as { file: string }).file, 'ipxe-i386.efi');
    assert.equal((decideBoot(pxe(6), DEFAULT_BOOT_FILES, SERVERS) as { file: string }).file, 'ipxe.efi');
  });

  test('among several architectures the first with a file of its own wins over the ia32 fallback', () => {
    const decision = decideBoot(client({ vendorClass: 'PXEClient', clientArchitectures: [6, 11] }), DEFAULT_BOOT_FILES, SERVERS);
    assert.ok(isBootFile(decision));
    assert.equal(decision.file, 'ipxe-arm64.efi');
    assert.equal(decision.architecture, 11);
  });

  test('without option 93 the vendor class architecture counts, and without both it is BIOS', () => {
    const fromClass = decideBoot(client({ vendorClass: 'PXEClient:Arch:00007:UNDI:003016' }), DEFAULT_BOOT_FILES, SERVERS);
    assert.equal((fromClass as { file: string }).file, 'ipxe.efi');
    const bare = decideBoot(client({ vendorClass: 'PXEClient' }), DEFAULT_BOOT_FILES, SERVERS);
    assert.equal((bare as { file: string }).file, 'undionly.kpxe');
  });

  test('the configured next server is the TFTP server', () => {
    const decision = decideBoot(pxe(0), DEFAULT_BOOT_FILES, { ...SERVERS, nextServer: '10.0.0.20' });
    assert.equal((decision as { nextServer: string }).nextServer, '10.0.0.20');
  });

  test('an architecture with no file is unsupported, with a reason', () => {
    const decision = decideBoot(pxe(10), DEFAULT_BOOT_FILES, SERVERS);
    assert.equal(decision.kind, 'unsupported');
    assert.match((decision as { reason: string }).reason, /architecture 10/);
  });

  test('the captured busybox client posing as a BIOS PXE ROM', () => {
    const decision = decideBoot(capturedPacket('busybox-udhcpc-discover.hex'), DEFAULT_BOOT_FILES, SERVERS);
    assert.equal(decision.kind, 'pxe');
    assert.equal((decision as { file: string }).file, 'undionly.kpxe');
  });
});

describe('decideBoot: UEFI HTTP boot gets ipxe.efi by URL', () => {
  test('x64 (16) and arm64 (19), with option 60 HTTPClient echoed', () => {
    const x64 = decideBoot(client({ vendorClass: 'HTTPClient:Arch:00016:UNDI:003000', clientArchitectures: [16] }), DEFAULT_BOOT_FILES, SERVERS);
    assert.deepEqual(x64, {
      kind: 'uefi-http',
      file: 'http://10.0.0.10:8080/boot/files/ipxe.efi',
      nextServer: null,
      vendorClass: 'HTTPClient',
      discoveryControl: false,
      architecture: 16,
    });
    const arm = decideBoot(client({ vendorClass: 'HTTPClient', clientArchitectures: [19] }), DEFAULT_BOOT_FILES, SERVERS);
    assert.equal((arm as { file: string }).file, 'http://10.0.0.10:8080/boot/files/ipxe-arm64.efi');
  });

  test('the configured boot server replaces address and port', () => {
    const decision = decideBoot(client({ vendorClass: 'HTTPClient', clientArchitectures: [16] }), DEFAULT_BOOT_FILES, {
      ...SERVERS,
      bootServer: 'boot.lab.example',
    });
    assert.equal((decision as { file: string }).file, 'http://boot.lab.example/boot/files/ipxe.efi');
  });

  test('BIOS cannot HTTP boot', () => {
    assert.equal(decideBoot(client({ vendorClass: 'HTTPClient', clientArchitectures: [0] }), DEFAULT_BOOT_FILES, SERVERS).kind, 'unsupported');
  });
});

describe('decideBoot: iPXE gets its per-machine script, so the chain never loops', () => {
  test('detected by user class iPXE', () => {
    const decision = decideBoot(client({ vendorClass: 'PXEClient:Arch:00000:UNDI:002001', userClasses: ['iPXE'], clientArchitectures: [0] }), DEFAULT_BOOT_FILES, SERVERS);
    assert.deepEqual(decision, {
      kind: 'ipxe',
      file: `http://10.0.0.10:8080/boot/ipxe/${MAC}`,
      nextServer: '10.0.0.10', // iPXE wants next-server in a ProxyDHCP answer
      vendorClass: 'PXEClient',
      discoveryControl: false,
      architecture: null,
    });
  });

  test('detected by option 175 alone, whatever the architecture or vendor class', () => {
    const decision = decideBoot(client({ hasIpxeOptions: true, clientArchitectures: [7] }), DEFAULT_BOOT_FILES, { ...SERVERS, bootServer: 'boot:81' });
    assert.equal(decision.kind, 'ipxe');
    assert.equal((decision as { file: string }).file, `http://boot:81/boot/ipxe/${MAC}`);
    assert.equal((decision as { vendorClass: string | null }).vendorClass, null);
  });

  test('an iPXE DISCOVER as iPXE sends it', () => {
    const packet = clientPacket({
      type: DhcpMessageType.discover,
      mac: MAC,
      architecture: 0,
      vendorClass: 'PXEClient:Arch:00000:UNDI:002001',
      userClass: 'iPXE',
      options: [[175, Uint8Array.of(0x13, 1, 1, 0xeb, 3, 1, 21, 1)]],
    });
    assert.equal(decideBoot(packet, DEFAULT_BOOT_FILES, SERVERS).kind, 'ipxe');
  });
});

describe('decideBoot: other clients', () => {
  test('plain DHCP clients get no boot file', () => {
    for (const name of ['dhclient-discover.hex', 'udhcpc-discover.hex']) {
      const packet = capturedPacket(name);
      assert.equal(packet.chaddr, CAPTURED_MAC);
      assert.deepEqual(decideBoot(packet, DEFAULT_BOOT_FILES, SERVERS), { kind: 'none' }, name);
    }
  });

  test('never throws; iPXE always gets its script, a non-PXE class never gets a file', () => {
    const arbitrary = fc.record({
      chaddr: fc.option(fc.constant(MAC), { nil: null }),
      vendorClass: fc.option(fc.oneof(fc.string(), fc.constantFrom('PXEClient', 'HTTPClient', 'PXEClient:Arch:', 'HTTPClient:Arch:99999')), { nil: undefined }),
      userClasses: fc.option(fc.array(fc.oneof(fc.string(), fc.constant('iPXE'))), { nil: undefined }),
      hasIpxeOptions: fc.boolean(),
      clientArchitectures: fc.option(fc.array(fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(...Object.values(ClientArchitecture)))), {
        nil: undefined,
      }),
    });
    fc.assert(
      fc.property(arbitrary, (bootClient) => {
        const decision = decideBoot(bootClient, DEFAULT_BOOT_FILES, SERVERS);
        const ipxe = bootClient.hasIpxeOptions || (bootClient.userClasses?.includes('iPXE') ?? false);
        if (ipxe && bootClient.chaddr !== null) assert.equal(decision.kind, 'ipxe');
        const bootClass = /^(PXEClient|HTTPClient)/.test(bootClient.vendorClass ?? '');
        if (!ipxe && !bootClass) assert.equal(decision.kind, 'none');
        if (isBootFile(decision) && decision.kind !== 'pxe') assert.match(decision.file, /^http:\/\//);
      }),
      { numRuns: 2000 },
    );
  });
});
