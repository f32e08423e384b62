/**
 * A boot storm against two image servers with a small admission limit: 40 simulated iPXE machines (see
 * test/lab/boot-storm.ts) ask at once, more than the 2 x 3 transfer slots, so most are refused with Retry-After
 * and come back later. Every machine boots the right bytes from its first-choice mirror and no server ever runs
 * more than its limit; with one mirror stopped in the middle of a storm, its machines move to the other one.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunningHangar } from './lab/hangar-process.js';
import { bootMachine, imageTransfers, mirrorLoads, startStormLab, watchImageTransfers, type MachineBoot, type StormLab } from './lab/boot-storm.js';

const LIMIT = 3;
const MACHINES = 40;
/** Long enough that 40 requests arriving together find every slot taken, even on a fast machine. */
const KERNEL_BYTES = 8 * 1024 * 1024;
const INITRD_BYTES = 16 * 1024 * 1024;
/** Per machine; the storms take 10 to 20 s (Retry-After is 1 to 10 s). */
const DEADLINE_MS = 50_000;
const MAX_REQUESTS = 200;

function failures(boots: readonly MachineBoot[]): string {
  return boots
    .filter((boot) => boot.outcome !== 'booted')
    .map((boot) => `${boot.mac}: ${boot.outcome} ${boot.failure} (${boot.transfers.map((t) => `${t.command}@${t.mirror} ${t.outcome}/${t.status} ${t.detail ?? ''}`).join(', ')})`)
    .join('\n');
}

describe('boot storm against two image servers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-storm-'));
  let lab: StormLab | undefined;

  before(async () => {
    lab = await startStormLab({ dir, servers: 2, maxImageTransfers: LIMIT, machines: MACHINES, kernelBytes: KERNEL_BYTES, initrdBytes: INITRD_BYTES });
  });

  after(async () => {
    await lab?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const storm = (scriptServer: string) =>
    Promise.all(lab!.macs.map((mac) => bootMachine({ mac, scriptServer, catalogue: lab!.catalogue, deadlineMs: DEADLINE_MS, maxRequests: MAX_REQUESTS })));

  test(`${MACHINES} machines at once, ${LIMIT} transfers per server: every machine boots, no server exceeds its limit`, async () => {
    const { servers, mirrors } = lab!;
    const watch = watchImageTransfers(mirrors, 20);
    const boots = await storm(mirrors[0]!);
    const watched = await watch.stop();

    assert.equal(failures(boots), '', 'every machine booted');
    const transfers = boots.flatMap((boot) => boot.transfers);
    assert.deepEqual(transfers.filter((t) => t.outcome !== 'ok'), [], 'every file arrived whole with the catalogue sha256');
    // A storm is a queue, not failures: nobody needed a second mirror.
    assert.deepEqual(boots.filter((boot) => boot.failovers > 0).map((boot) => boot.mac), []);
    for (const boot of boots) {
      assert.equal(boot.mirrors.length, 2);
      assert.equal(boot.booted!.kernel.mirror, boot.mirrors[0], `${boot.mac} booted its kernel from its first choice`);
      assert.equal(boot.booted!.initrd!.mirror, boot.mirrors[0], `${boot.mac} booted its initrd from its first choice`);
    }

    const loads = mirrorLoads(mirrors, boots);
    const statuses = await Promise.all(servers.map((server) => imageTransfers(server.url)));
    for (const [index, status] of statuses.entries()) {
      assert.equal(status.limit, LIMIT);
      assert.ok(status.peak <= LIMIT, `server ${index + 1} ran ${status.peak} transfers at once`);
      assert.ok(watched[index]!.maxInFlight <= LIMIT, `server ${index + 1} showed ${watched[index]!.maxInFlight} in flight`);
      assert.ok(watched[index]!.polls > 0);
      assert.equal(status.in_flight, 0);
      // Rendezvous spreads the machines: each server is first choice for some and serves them both files.
      assert.ok(loads[index]!.firstChoice > 0, `server ${index + 1} is nobody's first choice`);
      assert.equal(loads[index]!.bootedFiles, 2 * loads[index]!.firstChoice);
      // The server's counters agree with what the machines saw.
      assert.equal(status.refused, loads[index]!.refusals, `server ${index + 1} refusals`);
      assert.equal(status.admitted, loads[index]!.requests - loads[index]!.refusals, `server ${index + 1} admissions`);
    }
    const refusals = loads.reduce((sum, load) => sum + load.refusals, 0);
    assert.ok(refusals > 0, 'the storm was queued: some requests were refused with Retry-After');
    const seconds = (Math.max(...boots.map((boot) => boot.endedMs)) - Math.min(...boots.map((boot) => boot.startedMs))) / 1000;
    console.log(
      `# storm: ${MACHINES} machines in ${seconds.toFixed(1)} s; per server first choice/requests/refusals/peak: ` +
        loads.map((load, index) => `${load.firstChoice}/${load.requests}/${load.refusals}/${statuses[index]!.peak}`).join(', '),
    );
  });

  test('one mirror stopped in the middle of a storm: its machines fall over to the other and still boot', async () => {
    const [kept, stopped] = lab!.servers as [RunningHangar, RunningHangar];
    const before = await imageTransfers(stopped.url);
    const running = storm(kept.url);
    // SIGTERM (by pid) once the doomed server has started serving this storm: some of its machines are then
    // mid-transfer and most are waiting out a Retry-After.
    let admitted = 0;
    for (let polls = 0; admitted < 2 && polls < 500; polls++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      admitted = (await imageTransfers(stopped.url)).admitted - before.admitted;
    }
    assert.ok(admitted >= 2, 'the second server took part in the storm before it was stopped');
    const exitCode = await stopped.stop('SIGTERM');
    const boots = await running;

    assert.equal(exitCode, 0, `the stopped server exited cleanly: ${stopped.stderr()}`);
    assert.equal(failures(boots), '', 'every machine booted');
    assert.deepEqual(boots.flatMap((boot) => boot.transfers).filter((t) => t.outcome === 'corrupt'), []);
    const orphans = boots.filter((boot) => boot.mirrors[0] === stopped.url);
    const movedOver = orphans.filter((boot) => boot.booted!.kernel.mirror === kept.url);
    assert.ok(movedOver.length > 0, 'some machines of the stopped mirror booted from the other');
    for (const boot of movedOver) {
      assert.ok(boot.failovers >= 1, `${boot.mac} reached its second mirror through the script's '|| goto'`);
      assert.equal(boot.booted!.initrd!.mirror, kept.url, `${boot.mac} took its initrd from the same mirror as its kernel`);
    }
    for (const boot of boots.filter((boot) => boot.mirrors[0] === kept.url)) {
      assert.equal(boot.failovers, 0, `${boot.mac} never left its first choice`);
    }
    const status = await imageTransfers(kept.url);
    assert.ok(status.peak <= LIMIT, `the remaining server ran ${status.peak} transfers at once`);
    const seconds = (Math.max(...boots.map((boot) => boot.endedMs)) - Math.min(...boots.map((boot) => boot.startedMs))) / 1000;
    console.log(`# storm with a mirror stopped: ${MACHINES} machines in ${seconds.toFixed(1)} s; ${orphans.length} had it first, ${movedOver.length} moved over`);
  });
});
