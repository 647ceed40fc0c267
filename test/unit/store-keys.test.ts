import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ErrorCodes, isMwiError } from '../../src/errors.ts';
import { DEFAULT_KEY_PREFIX, hashTagOf, storeKeys } from '../../src/store/keys.ts';

describe('store keys', () => {
  it('puts every key under the default {mwi} prefix', () => {
    const keys = storeKeys();
    assert.equal(keys.prefix, DEFAULT_KEY_PREFIX);
    assert.equal(keys.mailbox('sip:1000@pbx.test'), '{mwi}:mailbox:sip:1000@pbx.test');
    assert.equal(keys.dirty(), '{mwi}:dirty');
    assert.equal(keys.publication('udp:10.0.0.1:5060|sip:1000@pbx.test'), '{mwi}:publication:udp:10.0.0.1:5060|sip:1000@pbx.test');
  });

  it('gives all keys one Redis Cluster hash tag, whatever braces a mailbox or publication key holds', () => {
    for (const prefix of ['{mwi}', 'prod:{mwi-a}', '{x}y']) {
      const keys = storeKeys(prefix);
      const tag = hashTagOf(prefix);
      for (const key of [keys.mailbox('sip:{evil}@pbx.test'), keys.dirty(), keys.publication('}{|sip:a@b')]) {
        assert.equal(hashTagOf(key), tag, key);
      }
    }
  });

  it('finds hash tags the way Redis Cluster does', () => {
    assert.equal(hashTagOf('{mwi}:dirty'), 'mwi');
    assert.equal(hashTagOf('a{b}c{d}'), 'b');
    assert.equal(hashTagOf('{}{mwi}'), undefined);
    assert.equal(hashTagOf('no-tag'), undefined);
    assert.equal(hashTagOf('{open'), undefined);
  });

  it('refuses a prefix without a usable hash tag with MWI_CONFIG_INVALID', () => {
    for (const prefix of ['mwi', '{}', '}{mwi', '{mwi', '{}{mwi}', '']) {
      assert.throws(() => storeKeys(prefix), (err: unknown) => isMwiError(err, ErrorCodes.CONFIG_INVALID), prefix);
    }
  });
});
