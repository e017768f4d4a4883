/**
 * A room test written the way the Colyseus docs show (@colyseus/testing:
 * boot the app config, createRoom, connectTo). Run twice, on the memory
 * backend and on disk (STORE_BACKEND), without mocha's --exit: the process
 * must end by itself once the server shut down.
 */
import assert from 'node:assert/strict';
import { boot, type ColyseusTestServer } from '@colyseus/testing';
import { buildKey, processStore } from 'tickstore/plugin';
import appConfig from '../src/app.config.js';
import { INVENTORY, type InventoryState } from '../src/rooms.js';

describe(`tickstore in a Colyseus room (${process.env.STORE_BACKEND ?? 'disk'} backend)`, () => {
  let colyseus: ColyseusTestServer;

  before(async () => { colyseus = await boot(appConfig); });
  after(async () => { await colyseus.shutdown(); });
  beforeEach(async () => { await colyseus.cleanup(); });

  it('loads on join, saves on leave, and a new room instance loads the save', async () => {
    const room = await colyseus.createRoom<InventoryState>('inventory', {});
    const client = await colyseus.connectTo(room, { token: 'token-carol' });
    client.send('pickup', 'lantern');
    await room.waitForMessage('pickup');
    assert.equal(room.state.players.get(client.sessionId)?.items.length, 1);
    await client.leave();
    const key = buildKey(INVENTORY, 3);
    for (let i = 0; i < 200 && !(await processStore().exists(key)); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(await processStore().exists(key), true, 'saved on leave');

    const next = await colyseus.createRoom<InventoryState>('inventory', {});
    assert.notEqual(next.roomId, room.roomId);
    const again = await colyseus.connectTo(next, { token: 'token-carol' });
    assert.deepEqual([...(next.state.players.get(again.sessionId)?.items ?? [])], ['lantern']);
    await again.leave();
  });
});
