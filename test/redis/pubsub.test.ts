import { expect } from 'chai';
import type { Backend, RemoteChange } from '../../src/backend.js';
import { NO_WRITE_FLAGS } from '../../src/backend.js';
import { buildKey } from '../../src/buildKey.js';
import { NOTICE_VALUE_MAX, decodeMessage } from '../../src/engines/redis/subscriber.js';
import { RedisServer, cli, requireRedis } from '../support/redisServer.js';
import { bytes, freshPrefix, ok, openRedis } from './ops.js';

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('redis engine: coherence messages', function () {
  let server: RedisServer;
  let a: Backend;
  let b: Backend;
  const heardA: RemoteChange[] = [];
  const heardB: RemoteChange[] = [];
  let prefix = '';

  before(async function () {
    requireRedis(this);
    server = await RedisServer.start();
    prefix = freshPrefix();
    a = await openRedis({ url: server.url, prefix });
    b = await openRedis({ url: server.url, prefix });
    a.onRemoteChange((c) => heardA.push(c));
    b.onRemoteChange((c) => heardB.push(c));
  });
  after(async () => {
    await a?.close();
    await b?.close();
    await server?.destroy();
  });

  it('decodes the wire format (keys with spaces and multi-byte characters; values carried or not)', () => {
    const key = 'a b ✓';
    const msg = Buffer.concat([Buffer.from(`2 abc p 7 ${Buffer.byteLength(key)} `), Buffer.from(key), Buffer.from(' 3 v w d 8 1 x p 9 1 y - e 0 1 z')]);
    expect(decodeMessage(msg)).to.deep.equal({
      origin: 'abc',
      changes: [
        { key, op: 'put', version: 7, value: new Uint8Array(Buffer.from('v w')) },
        { key: 'x', op: 'delete', version: 8 },
        { key: 'y', op: 'put', version: 9 },
        { key: 'z', op: 'expire', version: 0 },
      ],
    });
    expect(decodeMessage(Buffer.from('1 abc p 1 1 x')), 'another format version').to.equal(undefined);
    expect(decodeMessage(Buffer.from('2 abc p 1 9 x')), 'a key past the end').to.equal(undefined);
    expect(decodeMessage(Buffer.from('2 abc p 1 1 x 5 ab')), 'a value past the end').to.equal(undefined);
    expect(decodeMessage(Buffer.from('2 abc p 1 1 x')), 'a put without its value field').to.equal(undefined);
    expect(decodeMessage(Buffer.from('2 abc p 1 1 x -1 ')), 'a negative value length').to.equal(undefined);
  });

  it("a write on A reaches B with its key and version; A does not hear its own", async () => {
    const key = buildKey(1, 5n, [1n]);
    await ok((d) => a.put(key, bytes('v'), NO_WRITE_FLAGS, d));
    const version = (await ok((d) => a.exists(key, d))).version!;
    await until('B to hear the put', () => heardB.some((c) => !c.resync && c.key === key));
    expect(heardB.filter((c) => !c.resync)).to.deep.equal([{ key, op: 'put', version, value: bytes('v') }]);
    await ok((d) => a.delete(key, NO_WRITE_FLAGS, d));
    await until('B to hear the delete', () => heardB.some((c) => !c.resync && c.op === 'delete'));
    const del = heardB.find((c) => !c.resync && c.op === 'delete');
    expect(del).to.deep.include({ key, op: 'delete' });
    expect((del as { version: number }).version).to.be.above(version);
    // Only committed changes are announced: a refused putIf and a delete of an absent key say nothing.
    await ok((d) => a.putIf('w', bytes('x'), { version: 99 }, NO_WRITE_FLAGS, d));
    await ok((d) => a.delete('never', NO_WRITE_FLAGS, d));
    // A batch is one message listing every key.
    await ok((d) => a.batch([{ type: 'put', key: buildKey(1, 6n), value: bytes('1') }, { type: 'put', key: buildKey(2, 6n), value: bytes('2') }], NO_WRITE_FLAGS, d));
    await until('B to hear the batch', () => heardB.filter((c) => !c.resync).length === 4);
    expect(heardB.filter((c) => !c.resync).map((c) => (c.resync ? '' : c.key))).to.deep.equal([key, key, buildKey(1, 6n), buildKey(2, 6n)]);
    // B's own writes reach A, and A heard none of its own.
    await ok((d) => b.put('from-b', bytes('b'), NO_WRITE_FLAGS, d));
    await until('A to hear B', () => heardA.length > 0);
    expect(heardA).to.deep.equal([{ key: 'from-b', op: 'put', version: (await ok((d) => b.exists('from-b', d))).version!, value: bytes('b') }]);
  });

  it('an unreadable message on the channel is a resync (it may be a change this process missed)', async () => {
    const before = heardB.length;
    // Ten at once (an older build's messages during a rolling upgrade): one resync, not ten.
    for (let i = 0; i < 10; i++) cli(server.port, 'PUBLISH', `${prefix}:c`, '9 zz p 1 1 x');
    await until('B to resync', () => heardB.slice(before).some((c) => c.resync === true));
    await new Promise((r) => setTimeout(r, 50));
    expect(heardB.slice(before)).to.deep.equal([{ resync: true, connected: true }]);
  });

  it('a put carries its value when small (at most NOTICE_VALUE_MAX bytes), and not when bigger', async () => {
    const small = buildKey(1, 11n), big = buildKey(1, 12n);
    await ok((d) => a.put(small, bytes('tiny'), NO_WRITE_FLAGS, d));
    await ok((d) => a.put(big, new Uint8Array(NOTICE_VALUE_MAX + 1).fill(7), NO_WRITE_FLAGS, d));
    await until('B to hear both', () => heardB.some((c) => !c.resync && c.key === big));
    const s = heardB.find((c) => !c.resync && c.key === small) as { value?: Uint8Array };
    const b = heardB.find((c) => !c.resync && c.key === big) as { value?: Uint8Array };
    expect(Buffer.from(s.value!).toString()).to.equal('tiny');
    expect(b.value).to.equal(undefined);
  });

  it('a dropped subscription says resync (connected: false), then again once back (connected: true)', async () => {
    heardB.length = 0;
    await server.kill();
    await until('the drop', () => heardB.some((c) => c.resync && !c.connected));
    await server.restart();
    await until('the resubscribe', () => heardB.some((c) => c.resync && c.connected), 10_000);
    // The feed works again.
    const key = buildKey(3, 5n);
    for (let i = 0; ; i++) {
      const { error } = await new Promise<{ error: unknown }>((r) => a.put(key, bytes('x'), NO_WRITE_FLAGS, (_rep, e) => r({ error: e })));
      if (!error) break;
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 25));
    }
    await until('B to hear the put after the restart', () => heardB.some((c) => !c.resync && c.key === key));
  });
});
