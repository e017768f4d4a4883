/**
 * The app as ESM: the example's rooms on a `new Server`, a real client joins,
 * picks up items, leaves, rejoins and sees them; two world rooms share a
 * counter. Prints one JSON line and exits by itself (nothing left open).
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Server } from '@colyseus/core';
import { WebSocketTransport } from '@colyseus/ws-transport';
import { Client } from '@colyseus/sdk';
import { attachStore, processStore } from 'tickstore/plugin';
import { InventoryRoom, WorldRoom } from './rooms.js';

const until = async (cond: () => boolean, what: string): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const transport = new WebSocketTransport();
const server = new Server({ transport, greet: false, gracefullyShutdown: false });
server.define('inventory', InventoryRoom);
server.define('world', WorldRoom);
attachStore(server, { dir: process.env.TICKSTORE_DIR ?? './data' });
await server.listen(0, '127.0.0.1');
const port = (transport.server!.address() as AddressInfo).port;
// The CommonJS copy of the package (what a CommonJS dependency would load) sees the same process store.
const viaRequire = createRequire(import.meta.url)('tickstore/plugin') as typeof import('tickstore/plugin');
const sharedAcrossFormats = viaRequire.processStore() === processStore();

const client = new Client(`ws://127.0.0.1:${port}`);
type Players = { players?: Map<string, { items: Iterable<string> }> };
const items = (room: { state: unknown; sessionId: string }): string[] =>
  [...((room.state as Players).players?.get(room.sessionId)?.items ?? [])];

const first = await client.joinOrCreate('inventory', { token: 'token-alice' });
await until(() => (first.state as Players)?.players?.has(first.sessionId) === true, 'state');
first.send('pickup', 'sword');
first.send('pickup', 'shield');
await until(() => items(first).length === 2, 'pickups');
await first.leave();
await until(() => processStore().metrics().writeCount >= 1, 'the save on leave');
const again = await client.joinOrCreate('inventory', { token: 'token-alice' });
await until(() => items(again).length === 2, 'the saved inventory');
const rejoined = items(again);
await again.leave();

const worldA = await client.create('world', { token: 'token-bob' });
const worldB = await client.create('world', { token: 'token-bob' });
const counter = (r: { state: unknown }): number => (r.state as { counter?: number }).counter ?? -1;
await until(() => counter(worldA) >= 0 && counter(worldB) >= 0, 'world state');
worldA.send('bump');
await until(() => counter(worldB) === 1, 'the other room to see the bump');
await worldA.leave();
await worldB.leave();

await server.gracefullyShutdown(false);
console.log(JSON.stringify({ format: typeof require === 'undefined' ? 'esm' : 'cjs', rejoined, sharedAcrossFormats, counter: 1, node: process.version }));
