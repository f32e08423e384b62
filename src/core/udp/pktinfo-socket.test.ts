import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { interfaceIndex, openPktinfoSocket, type ReceivedDatagram } from './pktinfo-socket.js';

// Child processes import the compiled wrapper by URL: the namespace tests need a process inside the namespace.
const SOCKET_MODULE = new URL('./pktinfo-socket.js', import.meta.url).href;

interface WireDatagram extends Omit<ReceivedDatagram, 'data'> {
  text: string;
}

/** The JSON lines the child scripts below print. */
interface ChildLine {
  ready?: { port: number; ifindex: Record<string, number> };
  batch?: WireDatagram[];
  id?: number;
  sent?: boolean;
  error?: { code: string; message: string };
  message?: { text: string; from: string; fromPort: number };
  exception?: string;
}

/** Polls until probe() gives a value; `what` is read at the time out, so it can describe the state then. */
async function eventually<T>(probe: () => T | undefined, what: () => string, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A child process that takes JSON commands on stdin and prints JSON lines. */
class ScriptChild {
  readonly lines: ChildLine[] = [];
  readonly exited: Promise<number | null>;
  private errorText = '';
  private nextId = 1;

  constructor(private readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => this.lines.push(JSON.parse(line) as ChildLine));
    child.stderr.on('data', (chunk: Buffer) => (this.errorText += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderr(): string {
    return this.errorText;
  }

  /** Sends a command and returns its id, which the child echoes in its answer. */
  command(body: object): number {
    const id = this.nextId++;
    this.child.stdin.write(`${JSON.stringify({ id, ...body })}\n`);
    return id;
  }

  async answer(id: number): Promise<ChildLine> {
    return this.expect(() => this.lines.find((line) => line.id === id), `answer ${id}`);
  }

  async ready(): Promise<NonNullable<ChildLine['ready']>> {
    return this.expect(() => this.lines.find((line) => line.ready)?.ready, 'ready');
  }

  /** Like eventually(), but fails at once if the child has exited, and shows its stderr. */
  private expect<T>(probe: () => T | undefined, what: string): Promise<T> {
    return eventually(
      () => {
        const found = probe();
        if (found === undefined && !this.running) throw new Error(`child exited before ${what}; stderr: ${this.errorText}`);
        return found;
      },
      () => `${what}; stderr: ${this.errorText}`,
    );
  }

  /** Ends the child by its pid if it is still running. */
  async stop(): Promise<void> {
    if (this.running) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** A UDP socket on a free loopback port that keeps the text of every datagram it receives. */
async function loopbackClient(): Promise<{ client: Socket; received: string[] }> {
  const client = createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  const received: string[] = [];
  client.on('message', (data) => received.push(data.toString()));
  return { client, received };
}

function spawnScript(prefix: string[], script: string, args: string[]): ScriptChild {
  const [command, ...rest] = [...prefix, process.execPath, '--input-type=module', '-e', script, '--', ...args];
  return new ScriptChild(spawn(command as string, rest, { stdio: ['pipe', 'pipe', 'pipe'] }));
}

// argv: port, interface names whose indexes to report. Commands: {send: {text, to}}, {close: true}.
const SERVER_SCRIPT = `
import { openPktinfoSocket, interfaceIndex } from ${JSON.stringify(SOCKET_MODULE)};
import { createInterface } from 'node:readline';
const [port, ...interfaces] = process.argv.slice(1); // node -e: no script path in argv
const out = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const socket = openPktinfoSocket({
  port: Number(port),
  onDatagrams(batch) {
    out({ batch: batch.map(({ data, ...rest }) => ({ ...rest, text: data.toString() })) });
  },
});
out({ ready: { port: socket.port, ifindex: Object.fromEntries(interfaces.map((name) => [name, interfaceIndex(name)])) } });
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const { id, send, close } = JSON.parse(line);
  if (send) {
    try {
      out({ id, sent: socket.send(Buffer.from(send.text), send.to) });
    } catch (error) {
      out({ id, error: { code: error.code, message: error.message } });
    }
  }
  if (close) {
    socket.close();
    commands.close();
    process.stdin.destroy();
    out({ id, sent: false });
  }
});
commands.on('close', () => socket.close());
`;

// A plain dgram peer. argv: port. Commands: {send: {text, address, port, count}}; texts get '-N' when count > 1.
const PEER_SCRIPT = `
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';
const out = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
const socket = createSocket({ type: 'udp4', reuseAddr: true });
socket.on('message', (data, from) => out({ message: { text: data.toString(), from: from.address, fromPort: from.port } }));
socket.bind(Number(process.argv[1]), '0.0.0.0', () => {
  socket.setBroadcast(true);
  out({ ready: { port: socket.address().port, ifindex: {} } });
});
const commands = createInterface({ input: process.stdin });
commands.on('line', (line) => {
  const { id, send } = JSON.parse(line);
  const count = send.count ?? 1;
  for (let i = 0; i < count; i++) {
    const text = count > 1 ? send.text + '-' + i : send.text;
    const last = i === count - 1;
    socket.send(text, send.port, send.address, (error) => {
      if (error) out({ id, sent: false, error: { code: error.code, message: error.message } });
      else if (last) out({ id, sent: true });
    });
  }
});
commands.on('close', () => socket.close());
`;

describe('pktinfo socket on loopback', () => {
  test('reports the arrival interface, source and destination, and replies', async () => {
    const batches: ReceivedDatagram[][] = [];
    const server = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams: (batch) => batches.push(batch) });
    const { client, received: replies } = await loopbackClient();
    try {
      client.send('hello', server.port, '127.0.0.1');
      const [datagram] = await eventually(() => batches[0], () => 'a datagram');
      assert.ok(datagram);
      assert.equal(datagram.data.toString(), 'hello');
      assert.equal(datagram.ifindex, interfaceIndex('lo'));
      assert.equal(datagram.source, '127.0.0.1');
      assert.equal(datagram.sourcePort, client.address().port);
      assert.equal(datagram.destination, '127.0.0.1');
      assert.equal(server.send(Buffer.from('world'), { address: datagram.source, port: datagram.sourcePort }), true);
      const again = new TextEncoder().encode('again');
      assert.equal(server.send(again, { address: '127.0.0.1', port: datagram.sourcePort, source: '127.0.0.1' }), true);
      await eventually(() => (replies.length === 2 ? replies : undefined), () => `two replies, got ${replies.length}`);
      assert.deepEqual(replies, ['world', 'again']);
    } finally {
      server.close();
      server.close();
      client.close();
    }
  });

  test('bad arguments and unreachable addresses throw without closing the socket', () => {
    const server = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams: () => {} });
    try {
      const data = Buffer.from('x');
      assert.throws(() => server.send(data, { address: '300.1.1.1', port: 9 }), { code: 'ERR_INVALID_IP_ADDRESS' });
      assert.throws(() => server.send(data, { address: '127.0.0.1', port: 65536 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.throws(() => server.send(data, { address: '127.0.0.1', port: 9, source: 'nowhere' }), { code: 'ERR_INVALID_IP_ADDRESS' });
      assert.throws(() => server.send(data, { address: '127.0.0.1', port: 9, ifindex: 999_999 }), { code: 'ENODEV', syscall: 'sendmmsg' });
      assert.throws(() => server.send(data, { address: '127.0.0.1', port: 1.5 }), { code: 'ERR_OUT_OF_RANGE' });
      assert.equal(server.send(data, { address: '127.0.0.1', port: 9 }), true);
    } finally {
      server.close();
    }
    assert.throws(() => server.send(Buffer.from('x'), { address: '127.0.0.1', port: 9 }), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    assert.throws(() => openPktinfoSocket({ port: 0, address: 'localhost', onDatagrams: () => {} }), { code: 'ERR_INVALID_IP_ADDRESS' });
  });

  test('sendBatch sends in order across several sendmmsg calls and reports a failure without stopping', async () => {
    const server = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams: () => {} });
    const { client, received } = await loopbackClient();
    try {
      const to = { address: '127.0.0.1', port: client.address().port, source: '127.0.0.1' };
      const batch = Array.from({ length: 150 }, (_, i) => ({ data: Buffer.from(`d${i}`), to: i === 70 ? { ...to, ifindex: 999_999 } : to }));
      const failures: Array<[number, unknown]> = [];
      assert.equal(server.sendBatch(batch, (error, index) => failures.push([index, error])), 149);
      assert.equal(failures.length, 1);
      assert.equal(failures[0]![0], 70);
      assert.match(String(failures[0]![1]), /ENODEV/);
      assert.equal((failures[0]![1] as { syscall?: string }).syscall, 'sendmmsg');
      const expected = batch.map((_, i) => `d${i}`).filter((text) => text !== 'd70');
      await eventually(() => (received.length === expected.length ? true : undefined), () => `149 datagrams, got ${received.length}`);
      assert.deepEqual(received, expected);
      assert.equal(server.sendBatch([]), 0);
    } finally {
      server.close();
      client.close();
    }
  });

  test('large datagrams arrive whole, and each batch keeps its own copy', async () => {
    // 40 of 60,000 bytes overflow the megabyte lent to the addon, so one wakeup's datagrams come in several calls.
    const batches: ReceivedDatagram[][] = [];
    const server = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams: (batch) => batches.push(batch) });
    const { client } = await loopbackClient();
    try {
      client.setSendBufferSize(4 * 1024 * 1024);
      const count = 40;
      await Promise.all(
        Array.from({ length: count }, (_, i) => new Promise((resolve) => client.send(Buffer.alloc(60_000, i + 1), server.port, '127.0.0.1', resolve))),
      );
      const all = () => batches.flat();
      await eventually(() => (all().length === count ? true : undefined), () => `${count} datagrams, got ${all().length}`);
      assert.deepEqual(
        all().map(({ data }) => [data.length, data[0], data[59_999]]),
        Array.from({ length: count }, (_, i) => [60_000, i + 1, i + 1]),
      );
      assert.ok(batches.length > 1, 'one call for a megabyte and more');
    } finally {
      server.close();
      client.close();
    }
  });

  test('sendBatch checks every target before sending any', async () => {
    const server = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams: () => {} });
    const { client, received } = await loopbackClient();
    try {
      const port = client.address().port;
      const good = { data: Buffer.from('good'), to: { address: '127.0.0.1', port } };
      for (const bad of [{ address: '127.0.0.01', port }, { address: '127.0.0.1', port: -1 }, { address: '1.2.3.4.', port }]) {
        assert.throws(() => server.sendBatch([good, { data: Buffer.from('bad'), to: bad }]), { code: /ERR_INVALID_IP_ADDRESS|ERR_OUT_OF_RANGE/ });
      }
      assert.equal(server.send(Buffer.from('after'), { address: '127.0.0.1', port }), true);
      await eventually(() => (received.length > 0 ? true : undefined), () => 'a datagram');
      assert.deepEqual(received, ['after']);
    } finally {
      server.close();
      client.close();
    }
  });

  test('interfaceIndex names the loopback and rejects unknown names', () => {
    assert.equal(interfaceIndex('lo'), 1);
    assert.throws(() => interfaceIndex('hgu-none0'), { code: 'ENODEV', message: /hgu-none0/ });
  });

  test('an open socket keeps the process alive; close() or unref() lets it exit', async () => {
    const script = (ending: string) => `
      import { openPktinfoSocket } from ${JSON.stringify(SOCKET_MODULE)};
      const socket = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams: () => {} });
      ${ending}
      process.stdout.write(JSON.stringify({ ready: { port: socket.port, ifindex: {} } }) + '\\n');`;
    const closed = spawnScript([], script('socket.close();'), []);
    const unreferenced = spawnScript([], script('socket.unref();'), []);
    const open = spawnScript([], script(''), []);
    try {
      assert.equal(await closed.exited, 0, closed.stderr());
      assert.equal(await unreferenced.exited, 0, unreferenced.stderr());
      await open.ready();
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(open.running, true);
    } finally {
      await Promise.all([closed.stop(), unreferenced.stop(), open.stop()]);
    }
  });

  test('an exception thrown by onDatagrams reaches uncaughtException and receiving goes on', async () => {
    const child = spawnScript([], `
      import { openPktinfoSocket } from ${JSON.stringify(SOCKET_MODULE)};
      import { createSocket } from 'node:dgram';
      const out = (line) => process.stdout.write(JSON.stringify(line) + '\\n');
      const client = createSocket('udp4');
      let batches = 0;
      const socket = openPktinfoSocket({ port: 0, address: '127.0.0.1', onDatagrams(batch) {
        batches++;
        Promise.resolve().then(() => out({ message: { text: 'microtask ' + batches, from: '', fromPort: 0 } }));
        if (batches === 1) throw new Error('from onDatagrams');
        socket.close();
        client.close();
      } });
      process.on('uncaughtException', (error) => {
        out({ exception: error.message });
        client.send('second', socket.port, '127.0.0.1');
      });
      client.send('first', socket.port, '127.0.0.1');`, []);
    try {
      assert.equal(await child.exited, 0, child.stderr());
      // Node runs the microtasks of a callback that threw after its uncaughtException handlers.
      const events = child.lines.map((line) => line.exception ?? line.message?.text).sort();
      assert.deepEqual(events, ['from onDatagrams', 'microtask 1', 'microtask 2']);
    } finally {
      await child.stop();
    }
  });
});

const isRoot = process.getuid?.() === 0;

// Three namespaces of our own: a server with two interfaces (A: 10.250.1.1/24, B: 10.250.2.1/24 and 10.250.2.3/24)
// and a client namespace on each, running a plain dgram peer bound to 0.0.0.0.
describe('pktinfo socket across interfaces (network namespaces)', { skip: isRoot ? false : 'needs root for network namespaces' }, () => {
  const SERVER_PORT = 6767;
  const PEER_PORT = 6868;
  const namespaces = { server: `hgu-${process.pid}-s`, a: `hgu-${process.pid}-a`, b: `hgu-${process.pid}-b` };
  const created: string[] = [];
  const children: ScriptChild[] = [];
  let server: ScriptChild;
  let peerA: ScriptChild;
  let peerB: ScriptChild;
  let ifindex: Record<string, number> = {};

  const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const inNamespace = (name: string) => ['ip', 'netns', 'exec', name];

  before(async () => {
    for (const name of Object.values(namespaces)) {
      ip('netns', 'add', name);
      created.push(name);
      ip('-n', name, 'link', 'set', 'lo', 'up');
    }
    const links: [string, string, string, string[], string][] = [
      ['sA', namespaces.a, 'cA', ['10.250.1.1/24'], '10.250.1.2/24'],
      ['sB', namespaces.b, 'cB', ['10.250.2.1/24', '10.250.2.3/24'], '10.250.2.2/24'],
    ];
    for (const [serverSide, clientNamespace, clientSide, serverAddresses, clientAddress] of links) {
      ip('-n', namespaces.server, 'link', 'add', serverSide, 'type', 'veth', 'peer', 'name', clientSide, 'netns', clientNamespace);
      for (const address of serverAddresses) ip('-n', namespaces.server, 'addr', 'add', address, 'dev', serverSide);
      ip('-n', namespaces.server, 'link', 'set', serverSide, 'up');
      ip('-n', clientNamespace, 'addr', 'add', clientAddress, 'dev', clientSide);
      ip('-n', clientNamespace, 'link', 'set', clientSide, 'up');
      // A socket bound to 0.0.0.0 needs a route to send to 255.255.255.255.
      ip('-n', clientNamespace, 'route', 'add', 'default', 'dev', clientSide);
    }
    server = spawnScript(inNamespace(namespaces.server), SERVER_SCRIPT, [String(SERVER_PORT), 'sA', 'sB']);
    peerA = spawnScript(inNamespace(namespaces.a), PEER_SCRIPT, [String(PEER_PORT)]);
    peerB = spawnScript(inNamespace(namespaces.b), PEER_SCRIPT, [String(PEER_PORT)]);
    children.push(server, peerA, peerB);
    ifindex = (await server.ready()).ifindex;
    await Promise.all([peerA.ready(), peerB.ready()]);
  });

  after(async () => {
    await Promise.all(children.map((child) => child.stop()));
    for (const name of created) {
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    }
  });

  const serverDatagrams = () => server.lines.flatMap((line) => line.batch ?? []);
  const received = (text: string) =>
    eventually(
      () => serverDatagrams().find((datagram) => datagram.text === text),
      () => `server to receive ${text}; stderr: ${server.stderr()}`,
    );
  const peerMessages = (peer: ScriptChild) => peer.lines.flatMap((line) => (line.message ? [line.message] : []));
  const peerReceived = (peer: ScriptChild, text: string) =>
    eventually(() => peerMessages(peer).find((message) => message.text === text), () => `peer to receive ${text}; stderr: ${peer.stderr()}`);

  async function peerSend(peer: ScriptChild, text: string, address: string, count = 1): Promise<void> {
    const answer = await peer.answer(peer.command({ send: { text, address, port: SERVER_PORT, count } }));
    assert.equal(answer.sent, true, JSON.stringify(answer.error));
  }

  async function serverSend(text: string, to: { address: string; port: number; ifindex?: number; source?: string }): Promise<ChildLine> {
    return server.answer(server.command({ send: { text, to } }));
  }

  test('a broadcast reports the interface it arrived on and destination 255.255.255.255', async () => {
    await peerSend(peerA, 'broadcast-a', '255.255.255.255');
    await peerSend(peerB, 'broadcast-b', '255.255.255.255');
    const onA = await received('broadcast-a');
    const onB = await received('broadcast-b');
    assert.ok(ifindex.sA && ifindex.sB && ifindex.sA !== ifindex.sB);
    const broadcast = { sourcePort: PEER_PORT, destination: '255.255.255.255' };
    assert.deepEqual(onA, { text: 'broadcast-a', ifindex: ifindex.sA, source: '10.250.1.2', ...broadcast });
    assert.deepEqual(onB, { text: 'broadcast-b', ifindex: ifindex.sB, source: '10.250.2.2', ...broadcast });
  });

  test('a unicast or subnet broadcast reports its own destination', async () => {
    await peerSend(peerB, 'unicast-b', '10.250.2.3');
    await peerSend(peerA, 'subnet-broadcast-a', '10.250.1.255');
    assert.deepEqual(await received('unicast-b'), {
      text: 'unicast-b',
      ifindex: ifindex.sB,
      source: '10.250.2.2',
      sourcePort: PEER_PORT,
      destination: '10.250.2.3',
    });
    const subnet = await received('subnet-broadcast-a');
    assert.equal(subnet.destination, '10.250.1.255');
    assert.equal(subnet.ifindex, ifindex.sA);
  });

  test('a 255.255.255.255 reply leaves by the chosen interface only', async () => {
    for (const [name, chosen, other, source] of [['sB', peerB, peerA, '10.250.2.1'], ['sA', peerA, peerB, '10.250.1.1']] as const) {
      const text = `reply-by-${name}`;
      const answer = await serverSend(text, { address: '255.255.255.255', port: PEER_PORT, ifindex: ifindex[name] });
      assert.equal(answer.sent, true, JSON.stringify(answer.error));
      assert.deepEqual(await peerReceived(chosen, text), { text, from: source, fromPort: SERVER_PORT });
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(peerMessages(other).find((message) => message.text === text), undefined, `${text} also left by the other interface`);
    }
  });

  test('the source address can be chosen', async () => {
    const bySecondAddress = { port: PEER_PORT, ifindex: ifindex.sB, source: '10.250.2.3' };
    const answer = await serverSend('from-second-address', { address: '10.250.2.2', ...bySecondAddress });
    assert.equal(answer.sent, true, JSON.stringify(answer.error));
    assert.equal((await peerReceived(peerB, 'from-second-address')).from, '10.250.2.3');
    const broadcast = await serverSend('broadcast-from-second', { address: '255.255.255.255', ...bySecondAddress });
    assert.equal(broadcast.sent, true, JSON.stringify(broadcast.error));
    assert.equal((await peerReceived(peerB, 'broadcast-from-second')).from, '10.250.2.3');
  });

  test('sending to an unroutable or invalid address throws and the server goes on', async () => {
    assert.equal((await serverSend('nowhere', { address: '10.250.99.1', port: PEER_PORT })).error?.code, 'ENETUNREACH');
    // Without an interface, 255.255.255.255 has no route in the server namespace.
    assert.equal((await serverSend('nowhere', { address: '255.255.255.255', port: PEER_PORT })).error?.code, 'ENETUNREACH');
    assert.equal((await serverSend('nowhere', { address: 'not-an-address', port: PEER_PORT })).error?.code, 'ERR_INVALID_IP_ADDRESS');
    assert.equal((await serverSend('still-here', { address: '10.250.1.2', port: PEER_PORT })).sent, true);
    await peerReceived(peerA, 'still-here');
  });

  test('a burst of 2,000 datagrams is received whole', async () => {
    const count = 2000;
    const before = serverDatagrams().length;
    await peerSend(peerA, 'burst', '10.250.1.1', count);
    await eventually(
      () => (serverDatagrams().length - before >= count ? true : undefined),
      () => `${count} datagrams, got ${serverDatagrams().length - before}`,
      5000,
    );
    const texts = new Set(serverDatagrams().slice(before).map((datagram) => datagram.text));
    assert.equal(texts.size, count);
    for (let i = 0; i < count; i++) assert.ok(texts.has(`burst-${i}`), `burst-${i}`);
  });

  test('after close() the server process exits by itself', async () => {
    server.command({ close: true });
    let timer: NodeJS.Timeout | undefined;
    const stillRunning = new Promise((resolve) => (timer = setTimeout(() => resolve('still running'), 3000)));
    const exit = await Promise.race([server.exited, stillRunning]);
    clearTimeout(timer);
    assert.equal(exit, 0, server.stderr());
  });
});
