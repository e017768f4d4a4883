/**
 * Cold review of issue 13: the store closes under a live room (a shutdown
 * that closed the store first, an operator mistake). The room and the process
 * must survive, the failure must be counted, and a new player is refused
 * with an error instead of hanging.
 */
import { expect } from 'chai';
import { Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client } from '@colyseus/sdk';
import { openStore, playerMetrics, type Store } from '../plugin.js';
import { playerRoom } from './fixtures/playerRooms.js';
import { freePort } from './support/freePort.js';
import { ask, saveNow } from './support/playerClient.js';
import { sleep, tmpDir, waitFor } from './helpers.js';

describe('review13: the store closes under a live room', function () {
  this.timeout(60_000);
  let server: Server;
  let endpoint: string;
  let store: Store;
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown): void => { uncaught.push(err); };

  before(async () => {
    process.env.TICKSTORE_QUIET = '1';
    store = await openStore({ dir: tmpDir('review13-closed') });
    server = new Server({ transport: new WebSocketTransport(), greet: false, gracefullyShutdown: false } as ConstructorParameters<typeof Server>[0]);
    server.define('auto', playerRoom({ store, autosaveMs: 200, leaseTtlMs: 1000 }));
    const port = await freePort();
    await server.listen(port, '127.0.0.1');
    endpoint = `ws://127.0.0.1:${port}`;
    process.on('unhandledRejection', onUncaught);
  });
  after(async () => {
    process.off('unhandledRejection', onUncaught);
    await server.gracefullyShutdown(false);
  });

  it('autosaves, renewals and the final save fail quietly and are counted; the room keeps serving; a new join is refused, not hung', async () => {
    const a = await new Client(endpoint).create('auto', { userId: 1 });
    a.send('move', 3);
    await ask(a);
    await waitFor(() => playerMetrics(store).autosaves >= 1, 'a first autosave');
    const before = playerMetrics(store);
    await store.close();
    a.send('move', 4);
    await sleep(1500);                                  // autosaves and renewals meet the closed store
    expect(await ask(a), 'the room still answers').to.include({ gold: 993, bagGold: 7 });
    expect(await saveNow(a), 'an explicit save reports the closed store').to.equal('STORE_CLOSED');
    const joined = await Promise.race([
      new Client(endpoint).create('auto', { userId: 2 }).then(() => 'joined', () => 'refused'),
      sleep(5000).then(() => 'hung'),
    ]);
    expect(joined).to.equal('refused');
    await a.leave();
    await sleep(300);
    const after = playerMetrics(store);
    expect(after.saveFailures - before.saveFailures, 'failed saves are counted').to.be.greaterThan(0);
    expect(after.finalSaveFailures - before.finalSaveFailures, 'the lost final save is counted').to.equal(1);
    expect(uncaught, 'no unhandled rejection').to.deep.equal([]);
  });
});
