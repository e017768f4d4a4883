import { expect } from 'chai';
import { memoryBackend, openStore } from '../src/index.js';
import { faultyBackend } from '../src/testkit/faultyBackend.js';
import { bytes, sleep, text } from './helpers.js';

/**
 * Cold review of issue 14 (review14): does each faultyBackend rule do what
 * its TSDoc says? Each test here failed against the kit as it was merged.
 */
let n = 0;
const name = (t: string): string => `review14f-${process.pid}-${Date.now()}-${++n}-${t}`;

async function within<T>(p: Promise<T>, ms = 1500): Promise<{ ok: true; value: T } | { ok: false; error: unknown } | 'timeout'> {
  return Promise.race([
    p.then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error })),
    sleep(ms).then(() => 'timeout' as const),
  ]);
}

describe('review14: faultyBackend does what its TSDoc says', function () {
  this.timeout(20_000);

  it("hold(…, 'after'): release() before the engine replied still lets that op go on (it is not held forever)", async () => {
    const f = faultyBackend(memoryBackend({ dir: name('a') }));
    const store = await openStore({ backend: f });
    const gate = f.hold({ op: 'get' }, 'after');
    const get = store.get('k'); // forwarded; its reply is not back yet
    gate.release(); // "lets every held op go on … and stops holding new ones"
    expect(await within(get)).to.deep.equal({ ok: true, value: undefined });
    expect(await within(store.close())).to.not.equal('timeout');
  });

  it("hold(…, 'after'): fail() before the engine replied fails that op", async () => {
    const f = faultyBackend(memoryBackend({ dir: name('b') }));
    const store = await openStore({ backend: f });
    const gate = f.hold({ op: 'get' }, 'after');
    const get = store.get('k');
    gate.fail();
    const r = await within(get);
    expect(r !== 'timeout' && !r.ok, JSON.stringify(r)).to.equal(true);
    expect(await within(store.close())).to.not.equal('timeout');
  });

  it("delay(…, 'before') then close(): the delayed op is applied and answered before close resolves, with no uncaught throw", async () => {
    const f = faultyBackend(memoryBackend({ dir: name('c') }));
    const store = await openStore({ backend: f });
    f.delay({ op: 'put' }, 100);
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown): void => { uncaught.push(e); };
    // Mocha's own handler would fail the run anyway; ours records what escaped.
    const mochaHandlers = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const put = store.put('k', bytes('v'));
      await store.close();
      const r = await within(put, 500);
      await sleep(150);
      expect(uncaught.map(String), 'nothing thrown from a timer').to.deep.equal([]);
      expect(r).to.deep.equal({ ok: true, value: undefined });
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const h of mochaHandlers) process.on('uncaughtException', h);
    }
  });

  it("delay(…, 'after') then close(): the reply still arrives", async () => {
    const f = faultyBackend(memoryBackend({ dir: name('d') }));
    const store = await openStore({ backend: f });
    f.delay({ op: 'put' }, 50, 'after');
    const put = store.put('k', bytes('v'));
    await store.close();
    expect(await within(put, 500)).to.deep.equal({ ok: true, value: undefined });
  });

  it('fail({ times: 2 }) fails exactly two matching ops, applied: true applies them', async () => {
    // Held up.
    const f = faultyBackend(memoryBackend({ dir: name('e') }));
    const store = await openStore({ backend: f });
    f.fail({ op: 'put' }, { times: 2, applied: true });
    const r = await Promise.allSettled([store.put('a', bytes('1')), store.put('b', bytes('2')), store.put('c', bytes('3'))]);
    expect(r.map((x) => x.status)).to.deep.equal(['rejected', 'rejected', 'fulfilled']);
    expect(text(await store.get('a'))).to.equal('1');
    await store.close();
  });
});
