/**
 * Real PXE firmware against Hangar's DHCP: a QEMU VM whose e1000 ROM is iPXE, on a bridge in a namespace of its
 * own. Once with Hangar serving the segment, once with Kea (another namespace on the bridge) handing out the
 * addresses and Hangar in ProxyDHCP mode giving only the boot information.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storedLeases } from './lab/dhcp-leases.js';
import { HANGAR_BIN, storeEnv } from './lab/hangar-process.js';
import { run, startDhcpServerIn, stopProcess } from './lab/netns.js';
import { seedStore } from './lab/seed.js';
import { createLabBridge, labSkipReason, startVm, type LabBridge } from './lab/vm.js';

const SERVER = '10.99.0.1';
const HTTP_PORT = 8080;

for (const mode of ['serve', 'proxy'] as const) {
  describe(`iPXE firmware in a VM against Hangar's DHCP (${mode})`, { skip: labSkipReason() }, () => {
    let dir = '';
    let lab: LabBridge | null = null;
    let hangar: ChildProcess | null = null;
    let kea: ChildProcess | null = null;
    const keaNs = `hgk${process.pid}${mode[0]}-dhcp`;
    const mac = mode === 'serve' ? '52:54:00:12:34:56' : '52:54:00:12:34:57';

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), `hangar-dhcp-vm-${mode}-`));
      lab = createLabBridge(`hgv${process.pid}${mode[0]}`, SERVER);
      await seedStore(dir, async (create) => {
        await create('boot.subnet', { name: 'lab', prefix: '10.99.0.0/24', mode, pools: mode === 'serve' ? ['10.99.0.100-10.99.0.150'] : [], router: SERVER });
      });
      if (mode === 'proxy') {
        // The network's own DHCP server: Kea on another host of the segment, addresses only.
        run('ip', 'netns', 'add', keaNs);
        run('ip', 'link', 'add', 'kea0', 'netns', keaNs, 'type', 'veth', 'peer', 'name', 'kea-br', 'netns', lab.ns);
        lab.exec('ip', 'link', 'set', 'kea-br', 'master', 'br0');
        lab.exec('ip', 'link', 'set', 'kea-br', 'up');
        for (const args of [['addr', 'add', '10.99.0.2/24', 'dev', 'kea0'], ['link', 'set', 'kea0', 'up'], ['link', 'set', 'lo', 'up']]) {
          run('ip', 'netns', 'exec', keaNs, 'ip', ...args);
        }
        writeFileSync(
          join(dir, 'kea.json'),
          JSON.stringify({
            Dhcp4: {
              'interfaces-config': { interfaces: ['kea0'], 'dhcp-socket-type': 'raw' },
              'lease-database': { type: 'memfile', persist: false },
              'valid-lifetime': 600,
              subnet4: [{ id: 1, subnet: '10.99.0.0/24', pools: [{ pool: '10.99.0.200 - 10.99.0.220' }], 'option-data': [{ name: 'routers', data: SERVER }] }],
              loggers: [{ name: 'kea-dhcp4', output_options: [{ output: join(dir, 'kea.log') }], severity: 'WARN' }],
            },
          }),
        );
        kea = await startDhcpServerIn(keaNs, ['/usr/sbin/kea-dhcp4', '-c', join(dir, 'kea.json')], { ...process.env, KEA_PIDFILE_DIR: dir, KEA_LOCKFILE_DIR: dir }, join(dir, 'kea-process.log'));
      }
      hangar = await startDhcpServerIn(
        lab.ns,
        [process.execPath, HANGAR_BIN, 'serve', '--listen', `${SERVER}:${HTTP_PORT}`, '--dhcp', lab.bridge],
        { ...storeEnv({ dataDir: dir }), HANGAR_LOG_LEVEL: 'warn' },
        join(dir, 'hangar.log'),
      );
    });

    after(async () => {
      if (hangar) await stopProcess(hangar);
      if (kea) await stopProcess(kea);
      lab?.destroy();
      try {
        run('ip', 'netns', 'del', keaNs);
      } catch {
        // serve mode never made it
      }
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    test('the firmware takes a lease and is told the HTTP URL of its own iPXE script', async () => {
      const vm = startVm(lab!, lab!.addTap(), mac, join(dir, 'console.log'), 90);
      try {
        const filename = await vm.waitFor(/Filename: (\S+)/, 75_000);
        assert.equal(filename[1], `http://${SERVER}:${HTTP_PORT}/boot/ipxe/${mac}`);
        const lease = /net0: (10\.99\.0\.\d+)\//.exec(vm.console());
        assert.ok(lease, vm.console().slice(-2000));
        const last = Number(lease[1]!.split('.')[3]);
        if (mode === 'serve') {
          assert.ok(last >= 100 && last <= 150, `${lease[1]} is from Hangar's pool`);
          const stored = (await storedLeases(dir)).find((row) => row.mac === mac);
          assert.deepEqual({ address: stored?.address, state: stored?.state }, { address: lease[1], state: 'bound' });
        } else {
          assert.ok(last >= 200 && last <= 220, `${lease[1]} is from Kea's pool, not Hangar's`);
          assert.deepEqual((await storedLeases(dir)).filter((row) => row.mac === mac), [], 'ProxyDHCP keeps no lease');
        }
      } finally {
        await vm.stop();
      }
    });
  });
}
