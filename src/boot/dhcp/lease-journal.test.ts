import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { journalLines, LeaseJournal, listSegments, parseJournal, readJournal, segmentFile } from './lease-journal.js';
import type { LeaseRecord } from './leases.js';

const lease = (n: number): LeaseRecord => ({ address: `10.0.0.${n}`, mac: `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`, subnet: 'lab', state: 'bound', expiresAt: 1_700_000_000_000 + n, hostname: n % 2 ? `node-${n}` : null, clientId: null });
const TIME = '2026-11-25T09:00:00.000Z';

test('lines round-trip through the decoder, events with their time and data', () => {
  const text = journalLines([lease(1), lease(2)], [{ type: 'dhcp.ack', subject: '02:00:00:00:00:01', actor: 'dhcp', data: { address: '10.0.0.1' } }], TIME);
  const { entries, length } = parseJournal(Buffer.from(text), 'test');
  assert.equal(length, Buffer.byteLength(text));
  assert.deepEqual(entries.leases, [{ lease: lease(1), updated: TIME }, { lease: lease(2), updated: TIME }]);
  assert.deepEqual(entries.events, [{ time: TIME, type: 'dhcp.ack', subject: '02:00:00:00:00:01', actor: 'dhcp', data: { address: '10.0.0.1' } }]);
});

test('decoding stops at the zero fill, and leaves out a torn last line', () => {
  const whole = journalLines([lease(1), lease(2)], [], TIME);
  const torn = Buffer.concat([Buffer.from(whole), Buffer.from('["lease","10.0.0.3",'), Buffer.alloc(64)]);
  const { entries, length } = parseJournal(torn, 'test');
  assert.equal(entries.leases.length, 2);
  assert.equal(length, Buffer.byteLength(whole));
});

test('a line that is not journal content is an error naming where it is', () => {
  const bad = Buffer.from(`${journalLines([lease(1)], [], TIME)}{"not":"a line"}\n`);
  assert.throws(() => parseJournal(bad, 'segment 7'), /segment 7, line 2: not a DHCP journal line/);
  assert.throws(() => parseJournal(Buffer.from('garbage\n'), 'segment 7'), /segment 7, line 1/);
});

test('appends fill zero-filled segments in place, then move on and report the finished segment', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-journal-'));
  try {
    const batch = journalLines([lease(1), lease(2), lease(3)], [], TIME);
    const segmentBytes = Buffer.byteLength(batch) * 2 + 10;
    const journal = await LeaseJournal.open(dir, 5, segmentBytes);
    assert.equal(statSync(segmentFile(dir, 5)).size, segmentBytes);
    assert.equal(await journal.append(batch), null);
    assert.equal(await journal.append(batch), null);
    assert.deepEqual(journal.position, { segment: 5, offset: Buffer.byteLength(batch) * 2 });
    // The third does not fit: it goes to segment 6, and segment 5 is reported finished where it ended.
    assert.deepEqual(await journal.append(batch), { segment: 5, offset: Buffer.byteLength(batch) * 2 });
    assert.deepEqual(journal.position, { segment: 6, offset: Buffer.byteLength(batch) });
    await journal.close();
    assert.deepEqual(listSegments(dir).slice(0, 2), [5, 6]);
    assert.equal(readJournal(dir, 5, 0).entries.leases.length, 6);
    assert.equal(statSync(segmentFile(dir, 5)).size, segmentBytes, 'the segment never grew');
    // Reading from an offset gives what came after it.
    assert.deepEqual(readJournal(dir, 5, Buffer.byteLength(batch)).entries.leases.map((entry) => entry.lease.address), ['10.0.0.1', '10.0.0.2', '10.0.0.3']);
    assert.equal(readJournal(dir, 6, 0).entries.leases.length, 3);
    await assert.rejects(LeaseJournal.open(dir, 6, segmentBytes), /EEXIST/, 'a segment number is never reused');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a batch larger than a segment is refused, and nothing is written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-journal-'));
  try {
    const journal = await LeaseJournal.open(dir, 1, 64);
    await assert.rejects(journal.append(journalLines([lease(1), lease(2)], [], TIME)), /exceeds the segment size 64/);
    assert.deepEqual(journal.position, { segment: 1, offset: 0 });
    await journal.close();
    assert.ok(readFileSync(segmentFile(dir, 1)).every((byte) => byte === 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bytes a crash left after the last complete line are not read as a line', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'hangar-journal-'));
  try {
    const journal = await LeaseJournal.open(dir, 1, 4096);
    const batch = journalLines([lease(1)], [], TIME);
    await journal.append(batch);
    await journal.close();
    const fd = openSync(segmentFile(dir, 1), 'r+');
    writeSync(fd, '["lease","10.0.0.9","02:00', Buffer.byteLength(batch));
    closeSync(fd);
    const { entries, length } = readJournal(dir, 1, 0);
    assert.deepEqual(entries.leases.map((entry) => entry.lease.address), ['10.0.0.1']);
    assert.equal(length, Buffer.byteLength(batch));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
