import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineSplitter } from './lines.js';

const splitAll = (chunks: readonly string[]): string[] => {
  const splitter = new LineSplitter();
  return [...chunks.flatMap((chunk) => splitter.push(chunk)), ...splitter.end()];
};

test('a line waits for its break; the last one without a break comes at the end', () => {
  const splitter = new LineSplitter();
  assert.deepEqual(splitter.push('ab'), []);
  assert.deepEqual(splitter.push('c\nde'), ['abc']);
  assert.deepEqual(splitter.push('\r'), []);
  assert.deepEqual(splitter.push('\n\nf'), ['de', '']);
  assert.deepEqual(splitter.end(), ['f']);
  assert.deepEqual(splitter.end(), []);
});

test('property: however the text is chunked, the lines are those of the whole text', () => {
  const text = fc.array(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('\n', '\r\n', '\r')), { maxLength: 20 }).map((parts) => parts.join(''));
  fc.assert(
    fc.property(text, fc.array(fc.nat(), { maxLength: 10 }), (whole, cuts) => {
      const points = [...new Set(cuts.map((cut) => cut % (whole.length + 1)))].sort((a, b) => a - b);
      const chunks = [...points, whole.length].map((to, i) => whole.slice(i === 0 ? 0 : points[i - 1], to));
      const expected = whole.split('\n').map((line) => line.replace(/\r$/, ''));
      if (whole.endsWith('\n') || whole === '') expected.pop();
      assert.deepEqual(splitAll(chunks), expected);
    }),
    { numRuns: 2000 },
  );
});
