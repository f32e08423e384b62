import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_IMAGE_TRANSFERS, loadConfig } from './config.js';

describe('loadConfig', () => {
  test('defaults, then environment, then flags', () => {
    const defaults = loadConfig({ env: {} });
    assert.deepEqual(defaults.listen, { host: '127.0.0.1', port: 8080 });
    assert.equal(defaults.maxImageTransfers, DEFAULT_MAX_IMAGE_TRANSFERS);
    assert.equal(defaults.tftp, undefined);

    const env = { HANGAR_LISTEN: '0.0.0.0:9000', HANGAR_MAX_IMAGE_TRANSFERS: '8', HANGAR_TFTP: '10.0.0.1' };
    const fromEnv = loadConfig({ env });
    assert.deepEqual(fromEnv.listen, { host: '0.0.0.0', port: 9000 });
    assert.equal(fromEnv.maxImageTransfers, 8);
    assert.deepEqual(fromEnv.tftp, { address: '10.0.0.1', port: 69 });

    const fromFlags = loadConfig({ listen: ':7000', maxImageTransfers: '200', tftp: '10.0.0.2:6969', env });
    assert.deepEqual(fromFlags.listen, { host: '0.0.0.0', port: 7000 });
    assert.equal(fromFlags.maxImageTransfers, 200);
    assert.deepEqual(fromFlags.tftp, { address: '10.0.0.2', port: 6969 });
  });

  test('bad values are refused with the flag named', () => {
    for (const value of ['0', '-3', '1.5', 'many', '100001']) {
      assert.throws(() => loadConfig({ maxImageTransfers: value, env: {} }), /--max-image-transfers: '.*' is not a whole number from 1 to 100000/);
    }
    assert.throws(() => loadConfig({ tftp: '10.0.0.300', env: {} }), /--tftp/);
    assert.throws(() => loadConfig({ env: { HANGAR_LOG_LEVEL: 'loud' } }), /HANGAR_LOG_LEVEL/);
  });
});
