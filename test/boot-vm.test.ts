/**
 * A machine boots from Hangar alone: two QEMU VMs whose e1000 ROM is iPXE, on a bridge with Hangar, take a lease,
 * fetch their iPXE script over HTTP, load a real Debian kernel and an initrd built here from Hangar's image
 * catalogue, and the booted initrd takes a lease and calls Hangar back. One VM is a known device with a profile;
 * the other is unknown and boots the discovery profile. The test asserts on Hangar's events for each MAC.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openServices } from '../src/main.js';
import type { HangarEvent } from '../src/events/log.js';
import { HANGAR_BIN, storeEnv } from './lab/hangar-process.js';
import { startDhcpServerIn, stopProcess } from './lab/netns.js';
import { seedStore } from './lab/seed.js';
import { buildBootKit, createLabBridge, labSkipReason, startVm, type LabBridge, type RunningVm } from './lab/vm.js';

const SERVER = '10.99.0.1';
const HTTP = `${SERVER}:8080`;
const KNOWN_MAC = '52:54:00:00:00:01';
const UNKNOWN_MAC = '52:54:00:00:00:02';

describe('two VMs network-boot a kernel and initrd from Hangar alone', { skip: labSkipReason() }, () => {
  let dir = '';
  let lab: LabBridge | null = null;
  let hangar: ChildProcess | null = null;
  const vms: RunningVm[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-boot-vm-'));
    lab = createLabBridge(`hgb${process.pid}`, SERVER);
    const kit = buildBootKit(join(dir, 'kit'));
    await seedStore(dir, async (create, registerImageFile) => {
      await create('boot.subnet', { name: 'lab', prefix: '10.99.0.0/24', pools: ['10.99.0.100-10.99.0.150'], router: SERVER });
      const image = await create('boot.image', { name: 'lab-live' });
      const version = await create('boot.imageversion', { image, version: '1', kernel: 'vmlinuz', initrd: 'initrd.gz' });
      await registerImageFile(version, 'kernel', kit.kernel);
      await registerImageFile(version, 'initrd', kit.initrd);
      const args = `console=ttyS0 panic=-1 hangar.callback=http://${HTTP}/boot/booted/`;
      const profile = await create('boot.profile', { name: 'lab', image_version: version, kernel_args: args });
      await create('boot.profile', { name: 'discovery', image_version: version, kernel_args: `${args} hangar.discovery=1`, discovery: true });
      const site = await create('dcim.site', { name: 'Lab', slug: 'lab' });
      const manufacturer = await create('dcim.manufacturer', { name: 'QEMU', slug: 'qemu' });
      const deviceType = await create('dcim.devicetype', { manufacturer, model: 'pc', slug: 'pc' });
      const role = await create('dcim.devicerole', { name: 'Server', slug: 'server' });
      const device = await create('dcim.device', { name: 'vm-1', device_type: deviceType, role, site, boot_profile: profile });
      await create('dcim.interface', { device, name: 'eth0', type: '1000base-t', mac_address: KNOWN_MAC });
    });
    hangar = await startDhcpServerIn(
      lab.ns,
      [process.execPath, HANGAR_BIN, 'serve', '--listen', HTTP, '--dhcp', lab.bridge],
      { ...storeEnv({ dataDir: dir }), HANGAR_LOG_LEVEL: 'warn' },
      join(dir, 'hangar.log'),
    );
  });

  after(async () => {
    for (const vm of vms) await vm.stop();
    if (hangar) await stopProcess(hangar);
    lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('both boot the real kernel, take a lease in the initrd and call Hangar back', async () => {
    for (const mac of [KNOWN_MAC, UNKNOWN_MAC]) vms.push(startVm(lab!, lab!.addTap(), mac, join(dir, `console-${mac.replace(/:/g, '')}.log`), 150));
    await Promise.all(vms.map((vm) => vm.waitFor(/hangar-lab: callback done/, 140_000)));
    for (const vm of vms) {
      assert.match(vm.console(), /Linux version 6\./, 'the Debian kernel booted');
      assert.match(vm.console(), /hangar-lab: lease 10\.99\.0\.1\d\d/);
    }
    assert.match(vms[1]!.console(), /hangar\.discovery=1/, 'the unknown machine booted the discovery profile');
  });

  test("Hangar's events tell each machine's boot: lease, script, kernel and initrd, booted", async () => {
    const services = await openServices({ dataDir: dir });
    let events: HangarEvent[] = [];
    try {
      for (let attempt = 0; attempt < 40; attempt++) {
        events = await services.events.list({ limit: 500 });
        if (events.filter((event) => event.type === 'boot.booted').length === 2) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await services.store.close();
    }
    for (const [mac, profile, device] of [[KNOWN_MAC, 'lab', 'vm-1'], [UNKNOWN_MAC, 'discovery', null]] as const) {
      const upper = mac.toUpperCase();
      const mine = events.filter((event) => event.subject.toUpperCase() === upper);
      const types = new Set(mine.map((event) => event.type));
      for (const type of ['dhcp.ack', 'boot.script', 'boot.booted']) assert.ok(types.has(type), `${mac}: no ${type} in ${[...types].join(', ')}`);
      const script = mine.find((event) => event.type === 'boot.script')!;
      assert.deepEqual({ profile: script.data.profile, device: script.data.device, image: script.data.image }, { profile, device, image: 'lab-live@1' });
      // File transfers carry no MAC; Hangar names them by the MAC its DHCP server leased the client's address to.
      const files = mine.filter((event) => event.type === 'boot.file' && event.data.status === 200).map((event) => String(event.data.file));
      assert.deepEqual(files.sort(), ['lab-live/1/initrd.gz', 'lab-live/1/vmlinuz'], `${mac}: ${files.join(', ')}`);
    }
  });
});
