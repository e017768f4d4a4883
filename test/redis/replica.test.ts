import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Backend } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey } from '../../src/buildKey.js';
import { OutcomeUnknownError } from '../../src/errors.js';
import { RedisServer, cli, requireRedis } from '../support/redisServer.js';
import { bytes, call, freshPrefix, ok, openRedis } from './ops.js';

describe('redis engine: WAIT for replicas', function () {
  let primary: RedisServer;
  let replica: RedisServer;
  let b: Backend;
  let prefix: string;

  before(async function () {
    requireRedis(this);
    primary = await RedisServer.start();
    replica = await RedisServer.start({ replicaOf: primary.port });
    const end = Date.now() + 20_000;
    while (!cli(replica.port, 'info', 'replication').includes('master_link_status:up')) {
      if (Date.now() > end) throw new Error('the replica did not connect');
      await new Promise((r) => setTimeout(r, 50));
    }
    prefix = freshPrefix();
    b = await openRedis({ url: primary.url, prefix, waitReplicas: 1, waitTimeoutMs: 300 });
  });
  after(async () => {
    await b?.close();
    await replica?.destroy();
    await primary?.destroy();
  });

  it('acknowledges a write only once the replica has it', async () => {
    const onReplica = new Redis(replica.url);
    try {
      for (let i = 0; i < 20; i++) {
        const key = buildKey(1, 9n, [BigInt(i)]);
        await ok((d) => b.put(key, bytes(`r${i}`), NO_WRITE_FLAGS, d));
        // Read straight from the replica, right after the ack.
        expect(await onReplica.hget(`${prefix}:{0000000000000009}:d:${key}`, 'v')).to.equal(`r${i}`);
      }
      await ok((d) => b.batch([{ type: 'put', key: 'w1', value: bytes('1') }, { type: 'put', key: 'w2', value: bytes('2') }], NO_WRITE_FLAGS, d));
      expect(await onReplica.hget(`${prefix}:{_}:d:w2`, 'v')).to.equal('2');
    } finally {
      onReplica.disconnect();
    }
  });

  it('without the replica, a write the primary applied is OutcomeUnknownError, not success', async () => {
    await replica.kill();
    const key = buildKey(1, 9n, [99n]);
    const o = await call((d) => b.put(key, bytes('lonely'), NO_WRITE_FLAGS, d));
    expect(o.error).to.be.instanceOf(OutcomeUnknownError);
    expect(o.error!.message).to.match(/only 0 of 1 replica/);
    // Reads do not wait for replicas; the primary has it.
    expect((await ok((d) => b.get(key, d))).found).to.equal(true);
    // A write that did not apply (a failed condition) is just that: no WAIT verdict.
    expect((await ok((d) => b.putIf(key, bytes('x'), { absent: true }, NO_WRITE_FLAGS, d))).found).to.equal(false);
  });
});
