/**
 * Crash safety of the DHCP server's durable leases: `hangar serve --dhcp` under perfdhcp load is SIGKILLed
 * mid-run, restarted on the same store and loaded again (perfdhcp's random MACs overlap the first run's). Then no
 * address may be bound to two clients: perfdhcp sees no address handed to two of its clients, each bound row has
 * one MAC, and no MAC holds two bound addresses; and no lease ACKed before the kill is lost. Needs root and perfdhcp; skipped otherwise.
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { storedLeases, type StoredLease } from './lab/dhcp-leases.js';
import { seedStore } from './lab/seed.js';
import { HANGAR_BIN, storeEnv } from './lab/hangar-process.js';
import { createVethPair, runPerfdhcp, startDhcpServerIn, stopProcess, type PerfdhcpResult, type VethPair } from './lab/netns.js';

const SERVER_ADDRESS = '10.64.0.1';
const CLIENT_ADDRESS = '10.127.255.254';
const RATE = 1000;

const isRoot = process.getuid?.() === 0;
const skip = !isRoot ? 'needs root for network namespaces' : !existsSync('/usr/sbin/perfdhcp') ? 'needs perfdhcp' : false;

describe('DHCP leases survive SIGKILL under load', { skip }, () => {
  let dir = '';
  let net: VethPair | null = null;
  let server: ChildProcess | null = null;
  const runs: PerfdhcpResult[] = [];
  let rows: StoredLease[] = [];

  const startServer = async (): Promise<ChildProcess> =>
    startDhcpServerIn(
      net!.serverNs,
      [process.execPath, HANGAR_BIN, 'serve', '--listen', '127.0.0.1:0', '--dhcp', net!.serverIf],
      { ...storeEnv({ dataDir: dir }), HANGAR_LOG_LEVEL: 'warn' },
      join(dir, 'server.log'),
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hangar-dhcp-crash-'));
    net = createVethPair(`hgk${process.pid}`, `${SERVER_ADDRESS}/10`, `${CLIENT_ADDRESS}/10`);
    await seedStore(dir, async (create) => {
      await create('boot.subnet', { name: 'crash', prefix: '10.64.0.0/10', pools: ['10.65.0.0-10.126.255.255'], router: SERVER_ADDRESS, lease_time: 4000 });
    });

    server = await startServer();
    const loaded = runPerfdhcp(net.clientNs, CLIENT_ADDRESS, SERVER_ADDRESS, { rate: RATE, seconds: 4, checkUniqueness: true });
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await stopProcess(server, 'SIGKILL');
    runs.push(await loaded);

    server = await startServer();
    runs.push(await runPerfdhcp(net.clientNs, CLIENT_ADDRESS, SERVER_ADDRESS, { rate: RATE, seconds: 2, checkUniqueness: true }));
    await stopProcess(server);
    server = null;

    rows = await storedLeases(dir);
  });

  after(async () => {
    if (server) await stopProcess(server, 'SIGKILL');
    net?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the server answered before the kill and after the restart, and the kill landed mid-load', () => {
    assert.equal(runs.length, 2);
    assert.ok(runs[0]!.requestAck.received > 0, runs[0]!.report);
    assert.ok(runs[0]!.discoverOffer.drops > 0, `no DISCOVER went unanswered, so the kill missed the load: ${runs[0]!.report}`);
    assert.ok(runs[1]!.requestAck.received > 0, runs[1]!.report);
  });

  test('every lease ACKed before the kill is still bound', () => {
    // An ACK goes out only after its lease is committed, and nothing expires or is released here, so the bound
    // rows are at least the first run's ACKs (the second run only adds rows or renews its MACs' own).
    const bound = rows.filter((row) => row.state === 'bound').length;
    assert.ok(bound >= runs[0]!.requestAck.received, `${bound} bound rows < ${runs[0]!.requestAck.received} ACKs before the kill`);
  });

  test('perfdhcp never saw one address handed to two clients', () => {
    for (const run of runs) {
      assert.equal(run.discoverOffer.nonUnique, 0, run.report);
      assert.equal(run.requestAck.nonUnique, 0, run.report);
    }
  });

  test('every bound lease has a MAC and a unique address, and no MAC holds two', () => {
    const bound = rows.filter((row) => row.state === 'bound');
    assert.ok(bound.length > 0);
    assert.ok(bound.every((row) => row.mac !== null));
    assert.equal(new Set(bound.map((row) => row.address)).size, bound.length);
    const byMac = new Map<string, string[]>();
    for (const row of bound) byMac.set(row.mac!, [...(byMac.get(row.mac!) ?? []), row.address]);
    const doubled = [...byMac].filter(([, addresses]) => addresses.length > 1);
    assert.deepEqual(doubled.slice(0, 5), [], `${doubled.length} MACs hold more than one bound address`);
  });
});
