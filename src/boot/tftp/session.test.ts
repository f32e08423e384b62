import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { TftpOption } from './codec.js';
import { ReadSession, negotiateReadOptions, type ReadAction, type ReadServerLimits } from './session.js';

const limits: ReadServerLimits = { maxBlksize: 1468, maxWindowsize: 16, defaultTimeoutSeconds: 2, maxRetries: 5 };

function option(name: string, value: string): TftpOption {
  return { name, value };
}

function data(block: number, offset: number, length: number): ReadAction {
  return { kind: 'send-data', block, offset, length };
}

describe('option negotiation', () => {
  test('no options: defaults and no OACK', () => {
    assert.deepEqual(negotiateReadOptions([], 1000, limits), {
      blksize: 512,
      windowsize: 1,
      timeoutSeconds: 2,
      acknowledged: [],
    });
  });

  test('unsupported options are ignored, not refused', () => {
    const negotiated = negotiateReadOptions(
      [option('multicast', ''), option('rollover', '0'), option('utimeout', '500000')],
      1000,
      limits,
    );
    assert.deepEqual(negotiated.acknowledged, []);
  });

  test('accepted options are echoed in the client order, names in lower case', () => {
    const negotiated = negotiateReadOptions(
      [option('TSIZE', '0'), option('BlkSize', '1024'), option('timeout', '5'), option('WindowSize', '4')],
      123456,
      limits,
    );
    assert.deepEqual(negotiated, {
      blksize: 1024,
      windowsize: 4,
      timeoutSeconds: 5,
      acknowledged: [
        option('tsize', '123456'),
        option('blksize', '1024'),
        option('timeout', '5'),
        option('windowsize', '4'),
      ],
    });
  });

  test('blksize is lowered to our limit, never raised, and ignored below 8', () => {
    const blksize = (value: string) => negotiateReadOptions([option('blksize', value)], 0, limits);
    assert.equal(blksize('9000').blksize, 1468);
    assert.deepEqual(blksize('9000').acknowledged, [option('blksize', '1468')]);
    assert.equal(blksize('65464').blksize, 1468);
    assert.equal(blksize('70000').blksize, 1468);
    assert.equal(blksize('8').blksize, 8);
    assert.equal(blksize('1468').blksize, 1468);
    assert.deepEqual(blksize('7').acknowledged, []);
    assert.equal(blksize('7').blksize, 512);
    assert.deepEqual(blksize('0').acknowledged, []);
  });

  test('windowsize is lowered to our limit and ignored at 0', () => {
    const windowsize = (value: string) => negotiateReadOptions([option('windowsize', value)], 0, limits);
    assert.equal(windowsize('8').windowsize, 8);
    assert.equal(windowsize('64').windowsize, 16);
    assert.equal(windowsize('65535').windowsize, 16);
    assert.deepEqual(windowsize('0').acknowledged, []);
    assert.equal(windowsize('0').windowsize, 1);
  });

  test('timeout is echoed unchanged within 1..255 and ignored outside', () => {
    const timeout = (value: string) => negotiateReadOptions([option('timeout', value)], 0, limits);
    assert.deepEqual(timeout('1').acknowledged, [option('timeout', '1')]);
    assert.equal(timeout('255').timeoutSeconds, 255);
    assert.deepEqual(timeout('0').acknowledged, []);
    assert.deepEqual(timeout('256').acknowledged, []);
    assert.equal(timeout('256').timeoutSeconds, 2);
  });

  test('tsize is answered with the file size whatever the client sent', () => {
    assert.deepEqual(negotiateReadOptions([option('tsize', '0')], 42, limits).acknowledged, [option('tsize', '42')]);
    assert.deepEqual(negotiateReadOptions([option('tsize', '7')], 0, limits).acknowledged, [option('tsize', '0')]);
    assert.deepEqual(
      negotiateReadOptions([option('tsize', 'enable')], 42, limits).acknowledged,
      [option('tsize', '42')],
      'atftp sends "enable"',
    );
    assert.deepEqual(negotiateReadOptions([option('TSize', '')], 42, limits).acknowledged, [option('tsize', '42')]);
  });

  test('values that are not plain decimal make the option ignored', () => {
    for (const value of ['', 'abc', '-5', '+5', '1e3', ' 512', '512 ', '0x200', '1.5', '9'.repeat(16)]) {
      assert.deepEqual(negotiateReadOptions([option('blksize', value)], 0, limits).acknowledged, [], value);
    }
  });

  test('server limits outside the RFC ranges are a programming error', () => {
    assert.throws(() => negotiateReadOptions([], 0, { ...limits, maxBlksize: 7 }), RangeError);
    assert.throws(() => negotiateReadOptions([], 0, { ...limits, maxBlksize: 65465 }), RangeError);
    assert.throws(() => negotiateReadOptions([], 0, { ...limits, maxWindowsize: 0 }), RangeError);
    assert.throws(() => negotiateReadOptions([], 0, { ...limits, defaultTimeoutSeconds: 0 }), RangeError);
    assert.throws(() => negotiateReadOptions([], 0, { ...limits, maxRetries: -1 }), RangeError);
    assert.throws(() => new ReadSession({ options: [], fileSize: -1 }, limits), RangeError);
  });
});

describe('read session, step by step', () => {
  test('without options the first DATA answers the RRQ', () => {
    const session = new ReadSession({ options: [], fileSize: 1000 }, limits);
    assert.deepEqual(session.start(), [data(1, 0, 512)]);
    assert.deepEqual(session.onAck(1), [data(2, 512, 488)]);
    assert.deepEqual(session.onAck(2), [{ kind: 'done' }]);
    assert.equal(session.state, 'done');
  });

  test('with only unsupported options the first DATA answers the RRQ too', () => {
    const session = new ReadSession({ options: [option('multicast', '')], fileSize: 10 }, limits);
    assert.deepEqual(session.start(), [data(1, 0, 10)]);
  });

  test('an OACK waits for ACK 0 before any DATA', () => {
    const options = [option('tsize', '0'), option('blksize', '1024')];
    const session = new ReadSession({ options, fileSize: 3000 }, limits);
    const oack: ReadAction = { kind: 'send-oack', options: [option('tsize', '3000'), option('blksize', '1024')] };
    assert.deepEqual(session.start(), [oack]);
    assert.equal(session.state, 'awaiting-oack-ack');
    assert.deepEqual(session.onAck(1), [], 'an ACK for a block not sent is ignored');
    assert.deepEqual(session.onTimeout(), [oack]);
    assert.deepEqual(session.onAck(0), [data(1, 0, 1024)]);
    assert.deepEqual(session.onAck(0), [], 'a repeated ACK 0 does not resend block 1');
    assert.deepEqual(session.onAck(1), [data(2, 1024, 1024)]);
    assert.deepEqual(session.onAck(2), [data(3, 2048, 952)]);
    assert.deepEqual(session.onAck(3), [{ kind: 'done' }]);
  });

  test('a zero-length file is one empty block', () => {
    const session = new ReadSession({ options: [], fileSize: 0 }, limits);
    assert.equal(session.totalBlocks, 1);
    assert.deepEqual(session.start(), [data(1, 0, 0)]);
    assert.deepEqual(session.onAck(1), [{ kind: 'done' }]);
  });

  test('a file that fills its last block exactly ends with an empty block', () => {
    const session = new ReadSession({ options: [], fileSize: 1024 }, limits);
    assert.equal(session.totalBlocks, 3);
    assert.deepEqual(session.start(), [data(1, 0, 512)]);
    assert.deepEqual(session.onAck(1), [data(2, 512, 512)]);
    assert.deepEqual(session.onAck(2), [data(3, 1024, 0)]);
    assert.deepEqual(session.onAck(3), [{ kind: 'done' }]);
  });

  test('windowsize 4: full, partial, duplicate, stale and future ACKs', () => {
    const options = [option('windowsize', '4'), option('blksize', '100')];
    const session = new ReadSession({ options, fileSize: 950 }, limits);
    assert.equal(session.totalBlocks, 10);
    assert.equal(session.start()[0]?.kind, 'send-oack');
    assert.deepEqual(session.onAck(0), [data(1, 0, 100), data(2, 100, 100), data(3, 200, 100), data(4, 300, 100)]);
    assert.deepEqual(session.onAck(9), [], 'ACK of a block not yet sent');
    // The client got 1 and 2 only: the window slides to 3 and resends from there.
    assert.deepEqual(session.onAck(2), [data(3, 200, 100), data(4, 300, 100), data(5, 400, 100), data(6, 500, 100)]);
    assert.deepEqual(session.onAck(2), [], 'duplicate ACK');
    assert.deepEqual(session.onAck(1), [], 'stale ACK');
    assert.deepEqual(session.onAck(6), [data(7, 600, 100), data(8, 700, 100), data(9, 800, 100), data(10, 900, 50)]);
    assert.deepEqual(session.onAck(10), [{ kind: 'done' }]);
  });

  test('a window is cut short at the final block', () => {
    const session = new ReadSession({ options: [option('windowsize', '8')], fileSize: 512 }, limits);
    session.start();
    assert.deepEqual(session.onAck(0), [data(1, 0, 512), data(2, 512, 0)]);
  });

  test('timeouts resend the window a bounded number of times, and progress resets the count', () => {
    const options = [option('windowsize', '2')];
    const session = new ReadSession({ options, fileSize: 5000 }, { ...limits, maxRetries: 2 });
    session.start();
    const firstWindow = session.onAck(0);
    assert.deepEqual(session.onTimeout(), firstWindow);
    assert.deepEqual(session.onTimeout(), firstWindow);
    const secondWindow = session.onAck(2);
    assert.deepEqual(secondWindow, [data(3, 1024, 512), data(4, 1536, 512)]);
    assert.deepEqual(session.onTimeout(), secondWindow);
    assert.deepEqual(session.onTimeout(), secondWindow);
    assert.deepEqual(session.onTimeout(), [
      { kind: 'fail', reason: 'retries-exhausted', message: 'no ACK after 2 retries' },
    ]);
    assert.equal(session.state, 'failed');
    assert.deepEqual(session.onAck(4), []);
    assert.deepEqual(session.onTimeout(), []);
  });

  test('an unanswered OACK fails after the retries too', () => {
    const session = new ReadSession({ options: [option('tsize', '0')], fileSize: 1 }, { ...limits, maxRetries: 0 });
    session.start();
    assert.equal(session.onTimeout()[0]?.kind, 'fail');
  });

  test('a lost final ACK is recovered by a timeout', () => {
    const session = new ReadSession({ options: [], fileSize: 10 }, limits);
    session.start();
    assert.deepEqual(session.onTimeout(), [data(1, 0, 10)]);
    assert.deepEqual(session.onAck(1), [{ kind: 'done' }]);
    assert.deepEqual(session.onAck(1), [], 'nothing after done');
    assert.deepEqual(session.onTimeout(), []);
  });

  test('misuse is a programming error', () => {
    const session = new ReadSession({ options: [], fileSize: 10 }, limits);
    assert.throws(() => session.onAck(0));
    assert.throws(() => session.onTimeout());
    session.start();
    assert.throws(() => session.start());
  });

  test('ACK numbers that are not 16-bit integers are ignored', () => {
    const session = new ReadSession({ options: [], fileSize: 10 }, limits);
    session.start();
    for (const block of [-1, 65536, 1.5, Number.NaN]) assert.deepEqual(session.onAck(block), []);
  });
});

/**
 * A whole transfer between the session and a simulated RFC 7440 client over a network that may drop or
 * duplicate packets. The client ACKs each full window and the final block, and on a gap or a duplicate ACKs the
 * last block it has in order; when nothing is in flight the server's timer fires.
 */
interface Network {
  /** How many copies of the n-th packet arrive (0 = lost). */
  copies(n: number): number;
}

interface TransferResult {
  outcome: 'done' | 'fail';
  /** Wire block numbers of every DATA the server sent, in order. */
  sentBlocks: number[];
  /** Bytes the client received in order. */
  received: number;
  timeouts: number;
}

function transfer(
  options: TftpOption[],
  fileSize: number,
  serverLimits: ReadServerLimits,
  network: Network,
): TransferResult {
  const session = new ReadSession({ options, fileSize }, serverLimits);
  const toClient: ReadAction[] = [];
  const toServer: number[] = [];
  const sentBlocks: number[] = [];
  let packets = 0;
  const deliver = <T>(queue: T[], packet: T) => {
    for (let copy = network.copies(packets++); copy > 0; copy--) queue.push(packet);
  };
  const serverSends = (actions: readonly ReadAction[]): 'done' | 'fail' | undefined => {
    for (const action of actions) {
      if (action.kind === 'done' || action.kind === 'fail') return action.kind;
      if (action.kind === 'send-data') sentBlocks.push(action.block);
      deliver(toClient, action);
    }
    return undefined;
  };

  const client = { blksize: 512, windowsize: 1, expected: 1, received: 0, inWindow: 0 };
  const clientReceives = (action: ReadAction) => {
    if (action.kind === 'send-oack') {
      for (const { name, value } of action.options) {
        if (name === 'blksize') client.blksize = Number(value);
        if (name === 'windowsize') client.windowsize = Number(value);
      }
      if (client.expected === 1) deliver(toServer, 0);
      return;
    }
    if (action.kind !== 'send-data') return;
    if (action.block !== client.expected % 65536) {
      client.inWindow = 0;
      deliver(toServer, (client.expected - 1) % 65536);
      return;
    }
    assert.equal(action.offset, client.received, 'blocks arrive contiguous');
    assert.ok(action.length <= client.blksize);
    client.received += action.length;
    client.expected++;
    client.inWindow++;
    if (client.inWindow === client.windowsize || action.length < client.blksize) {
      client.inWindow = 0;
      deliver(toServer, action.block);
    }
  };

  let outcome = serverSends(session.start());
  let timeouts = 0;
  while (outcome === undefined) {
    const toDeliver = toClient.shift();
    const ack = toDeliver === undefined ? toServer.shift() : undefined;
    if (toDeliver !== undefined) clientReceives(toDeliver);
    else if (ack !== undefined) outcome = serverSends(session.onAck(ack));
    else {
      timeouts++;
      outcome = serverSends(session.onTimeout());
    }
  }
  return { outcome, sentBlocks, received: client.received, timeouts };
}

const lossless: Network = { copies: () => 1 };

/** A small seeded generator so lossy runs are reproducible. */
function lossyNetwork(seed: number, lossPercent: number, duplicatePercent: number): Network {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % 100;
  };
  return { copies: () => (next() < lossPercent ? 0 : next() < duplicatePercent ? 2 : 1) };
}

function blocksUpTo(last: number): number[] {
  return Array.from({ length: last }, (_, index) => index + 1);
}

const patient: ReadServerLimits = { ...limits, maxRetries: 1000 };

describe('read session, whole transfers', () => {
  test('lossless, windowsize 1: every block sent once', () => {
    const result = transfer([option('blksize', '1024')], 10_000, limits, lossless);
    assert.deepEqual(result, { outcome: 'done', sentBlocks: blocksUpTo(10), received: 10_000, timeouts: 0 });
  });

  test('acknowledgedBytes follows the ACKs', () => {
    const session = new ReadSession({ options: [option('windowsize', '2')], fileSize: 1300 }, limits);
    session.start();
    assert.equal(session.acknowledgedBytes, 0);
    session.onAck(0);
    assert.equal(session.acknowledgedBytes, 0);
    session.onAck(1);
    assert.equal(session.acknowledgedBytes, 512, 'a partial ACK counts what it covers');
    session.onAck(3);
    assert.equal(session.acknowledgedBytes, 1300);
    assert.equal(session.state, 'done');
  });

  test('lossless, windowsize 4: every block sent once', () => {
    const result = transfer([option('windowsize', '4')], 512 * 9 + 1, limits, lossless);
    assert.deepEqual(result, { outcome: 'done', sentBlocks: blocksUpTo(10), received: 512 * 9 + 1, timeouts: 0 });
  });

  test('duplicated packets do not double the traffic (Sorcerer\'s Apprentice)', () => {
    const result = transfer([], 512 * 50, limits, { copies: () => 2 });
    assert.equal(result.outcome, 'done');
    assert.equal(result.received, 512 * 50);
    assert.deepEqual(result.sentBlocks, blocksUpTo(51));
  });

  test('a lost ACK is recovered by one timeout', () => {
    // Packet 0 is DATA 1, packet 1 its ACK: lose the ACK.
    const result = transfer([], 2000, limits, { copies: (n) => (n === 1 ? 0 : 1) });
    assert.equal(result.outcome, 'done');
    assert.equal(result.timeouts, 1);
    assert.deepEqual(result.sentBlocks, [1, 1, 2, 3, 4]);
  });

  test('a dead client fails the transfer after maxRetries timeouts', () => {
    const result = transfer([], 2000, { ...limits, maxRetries: 3 }, { copies: (n) => (n === 0 ? 1 : 0) });
    assert.equal(result.outcome, 'fail');
    assert.equal(result.timeouts, 4);
  });

  test('zero-length and exact-multiple files end cleanly', () => {
    assert.deepEqual(transfer([], 0, limits, lossless).sentBlocks, [1]);
    assert.deepEqual(transfer([option('blksize', '1000')], 3000, limits, lossless).sentBlocks, [1, 2, 3, 4]);
  });

  test('block numbers roll over from 65535 to 0 on a file larger than 65535 blocks', () => {
    const fileSize = 70_000 * 512 + 100;
    const result = transfer([option('tsize', '0')], fileSize, limits, lossless);
    assert.equal(result.outcome, 'done');
    assert.equal(result.received, fileSize);
    assert.equal(result.sentBlocks.length, 70_001);
    assert.deepEqual(result.sentBlocks.slice(65533, 65539), [65534, 65535, 0, 1, 2, 3]);
    assert.equal(result.sentBlocks.at(-1), 70_001 - 65536);
  });

  test('rollover with a window across the wrap and losses around it', () => {
    const fileSize = 65_600 * 8;
    const result = transfer(
      [option('blksize', '8'), option('windowsize', '16')],
      fileSize,
      patient,
      { copies: (n) => (n > 69_000 && n < 71_000 && n % 7 === 0 ? 0 : 1) },
    );
    assert.equal(result.outcome, 'done');
    assert.equal(result.received, fileSize);
    assert.ok(result.sentBlocks.includes(0));
  });

  test('any pattern of loss and duplication still delivers the whole file, in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 40 * 64 }),
        fc.constantFrom('1', '2', '4', '7'),
        (seed, loss, duplication, fileSize, windowsize) => {
          const options = [option('blksize', '64'), option('windowsize', windowsize), option('tsize', '0')];
          const result = transfer(options, fileSize, patient, lossyNetwork(seed, loss, duplication));
          assert.equal(result.outcome, 'done');
          assert.equal(result.received, fileSize);
        },
      ),
      { numRuns: 500 },
    );
  });
});
