/**
 * A room's state across a restart of its server PROCESS (issue 13 §9), on the
 * disk engine (the restarted process reopens the same data dir), with real
 * @colyseus/sdk clients:
 * - SIGTERM: Colyseus' graceful shutdown disposes the room (the final
 *   snapshot) before the store closes; a client of the restarted server sees
 *   exactly the state the last client saw — with a snapshot interval far
 *   longer than the test, so only the final snapshot can carry it.
 * - SIGKILL: no final snapshot; the restarted room has the last periodic
 *   one. The loss is measured (rounds and ms of progress) against everyMs.
 * - The control: the same SIGTERM restart with persistence off shows the
 *   fresh state, so the first test's check can fail.
 */
import { expect } from 'chai';
import { Client, type Room as ClientRoom } from '@colyseus/sdk';
import { ServerProcess } from './support/serverProcess.js';
import { sleep, tmpDir, waitFor } from './helpers.js';

const FIXTURE = new URL('./fixtures/roomStateNode.ts', import.meta.url).pathname;

interface View { round: number; changedAt: number; fighters: Record<string, number>; log: string[] }
function view(room: ClientRoom): View | undefined {
  const s = room.state as { round?: number; changedAt?: number; fighters?: Map<string, { score: number }>; log?: Iterable<string> } | undefined;
  if (s?.round === undefined || s.changedAt === undefined || !s.fighters || !s.log) return undefined;
  const fighters: Record<string, number> = {};
  for (const [k, f] of s.fighters) fighters[k] = f.score;
  return { round: s.round, changedAt: s.changedAt, fighters, log: [...s.log] };
}
const join = (server: ServerProcess, arena: string): Promise<ClientRoom> => new Client(server.endpoint).joinOrCreate('arena', { arena });
async function firstView(room: ClientRoom): Promise<View> {
  await waitFor(() => view(room) !== undefined, 'the room state');
  await sleep(100); // a patch after the first state would show here
  return view(room)!;
}

/** A SIGTERM restart of a server where a client played in an arena; returns what the client saw last and what a client sees after. */
async function sigtermRestart(env: Record<string, string>, arena: string): Promise<{ before: View; after: View }> {
  const server = new ServerProcess(FIXTURE, 'arena', env);
  await server.start();
  try {
    const a = await join(server, arena);
    await firstView(a);
    for (const w of ['ann', 'bob', 'ann', 'cid', 'ann']) a.send('hit', w);
    a.send('round', 500);
    a.send('hit', 'bob');
    await waitFor(() => view(a)?.round === 501, 'the last hit');
    const before = view(a)!;
    // The client stays: the shutdown must save the room with it in.
    await server.stop();
    await server.start();
    const b = await join(server, arena);
    const after = await firstView(b);
    await b.leave();
    return { before, after };
  } finally {
    await server.stop();
  }
}

describe('room state across a server process restart (disk engine, real clients)', function () {
  this.timeout(120_000);

  it('SIGTERM: the graceful shutdown saves the final state; a client of the restarted server sees exactly it', async () => {
    // everyMs far beyond the test: only the final snapshot at dispose can carry the state.
    const { before, after } = await sigtermRestart({ DIR: tmpDir('arena-term'), EVERY_MS: '600000' }, 'pit');
    expect(before).to.deep.include({ round: 501, fighters: { ann: 3, bob: 2, cid: 1 } });
    expect(after).to.deep.equal(before);
  });

  it('the control: with persistence off, the same restart shows the fresh state (the check above can fail)', async () => {
    const { before, after } = await sigtermRestart({ DIR: tmpDir('arena-off'), EVERY_MS: '600000', PERSIST: '0' }, 'pit');
    expect(before.round).to.equal(501);
    expect(after).to.deep.equal({ round: 0, changedAt: 0, fighters: {}, log: [] });
  });

  it('SIGKILL: the restarted room has the last periodic snapshot; at most about one interval is lost', async () => {
    const everyMs = 500;
    const server = new ServerProcess(FIXTURE, 'arena', { DIR: tmpDir('arena-kill'), EVERY_MS: String(everyMs) });
    await server.start();
    try {
      const a = await join(server, 'kill');
      await firstView(a);
      a.send('hit', 'ann');
      // Progress every 20 ms for a few intervals: the round is the step count.
      // Killed at a random phase of the snapshot interval.
      const runMs = 4 * everyMs + Math.random() * everyMs;
      const started = Date.now();
      let step = 0;
      while (Date.now() - started < runMs) {
        a.send('round', ++step);
        await sleep(20);
      }
      await waitFor(() => view(a)?.round === step, 'the last step');
      const seen = view(a)!;
      await server.kill();
      const killedAt = Date.now();
      await server.start();
      const b = await join(server, 'kill');
      const after = await firstView(b);
      await b.leave();
      const lostSteps = seen.round - after.round;
      const lostMs = seen.changedAt - after.changedAt;
      console.log(`      SIGKILL after ${step} steps (one per 20 ms), everyMs ${everyMs}: restored step ${after.round}, `
        + `lost ${lostSteps} steps = ${lostMs} ms of progress (state ${killedAt - after.changedAt} ms older than the kill)`);
      expect(after.round, 'a periodic snapshot survived').to.be.greaterThan(0);
      expect(after.round).to.be.at.most(seen.round);
      expect(after.fighters).to.deep.equal({ ann: 1 });
      // One interval, plus a tick's and a write's latency.
      expect(lostMs).to.be.at.most(everyMs + 250);
    } finally {
      await server.stop();
    }
  });
});
