import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { startTestApi, type TestApi } from '../api/api-fixture.js';
import { openServices } from '../main.js';
import { testBackends } from '../store/database-fixture.js';

interface SseEvent {
  id: number;
  type: string;
  data: { subject: string };
}

/** A minimal SSE reader: collects events until `count` arrived, then disconnects. */
function readEvents(base: string, token: string, count: number, headers: Record<string, string> = {}, query = ''): Promise<SseEvent[]> {
  return new Promise((resolve, reject) => {
    const events: SseEvent[] = [];
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`timed out with ${events.length} of ${count} events`));
    }, 10_000);
    const req = httpRequest(`${base}/api/events/stream${query}`, { headers: { authorization: `Bearer ${token}`, ...headers } }, (res: IncomingMessage) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /text\/event-stream/);
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(
            block
              .split('\n')
              .filter((line) => !line.startsWith(':') && line.includes(': '))
              .map((line) => [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)]),
          ) as Record<string, string>;
          if (fields.id === undefined) continue;
          events.push({ id: Number(fields.id), type: String(fields.event), data: JSON.parse(String(fields.data)) });
          if (events.length === count) {
            clearTimeout(timer);
            req.destroy();
            resolve(events);
          }
        }
      });
    });
    req.on('error', (error) => {
      if (events.length < count) reject(error);
    });
    req.end();
  });
}

for (const backend of testBackends) {
  describe(`event stream on ${backend}`, () => {
    let api: TestApi;
    let base: string;
    before(async () => {
      api = await startTestApi(backend, { eventPollMs: 100 });
      base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    });
    after(async () => api.close());

    const createToken = async (description: string) =>
      assert.equal((await api.call('POST', '/api/tokens/', { body: { scope: 'read', description } })).statusCode, 201);

    test('streams from the start, then resumes after Last-Event-ID without loss or repeats', async () => {
      const start = (await api.services.events.list({ limit: 1 }))[0]?.id ?? 0;
      for (let i = 0; i < 3; i++) await createToken(`a${i}`);
      const first = await readEvents(base, api.adminToken, 3, {}, `?after=${start}`);
      const ids = first.map((e) => e.id);
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b));
      assert.ok(first.every((e) => e.type === 'token.created'));

      const last = ids.at(-1)!;
      for (let i = 0; i < 2; i++) await createToken(`b${i}`);
      const resumed = await readEvents(base, api.adminToken, 2, { 'last-event-id': String(last) });
      const listed = await api.call('GET', `/api/events/?after=${last}`);
      assert.deepEqual(resumed.map((e) => e.id), listed.json().results.map((e: { id: number }) => e.id));
      assert.ok(resumed[0]!.id > last);
    });

    test('a live stream delivers new events, also ones committed by another process', async () => {
      const live = readEvents(base, api.adminToken, 2, {}, '?type=token.*');
      await new Promise((resolve) => setTimeout(resolve, 200));
      await createToken('live');
      // A second set of services on the same database stands in for another Hangar process.
      const other = await openServices(api.database.location);
      try {
        await other.events.record(other.store, { type: 'token.note', subject: 'token:other', data: { from: 'elsewhere' } });
        const events = await live;
        assert.deepEqual(events.map((e) => e.type), ['token.created', 'token.note']);
        assert.equal(events[1]!.data.subject, 'token:other');
      } finally {
        await other.store.close();
      }
    });

    test('a bad Last-Event-ID is a 400 naming the header', async () => {
      const res = await api.call('GET', '/api/events/stream', { headers: { 'last-event-id': 'yesterday' } });
      assert.equal(res.statusCode, 400);
      assert.equal(res.json().field, 'headers.last-event-id');
    });
  });
}
