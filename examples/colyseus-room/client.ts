/**
 * A scripted client for the example server (`npm run example:client`, with
 * `npm start` running): joins the inventory room, picks up items, leaves,
 * rejoins and sees its inventory; then shows one world counter shared by two
 * world rooms.
 */
import { Client, type Room } from '@colyseus/sdk';

const endpoint = process.env.ENDPOINT ?? 'ws://localhost:2567';
const token = process.env.TOKEN ?? 'token-alice';
const client = new Client(endpoint);
const say = (msg: string): void => console.log(`client: ${msg}`);

function itemsOf(room: Room): string[] {
  const me = (room.state as { players?: Map<string, { items: Iterable<string> }> }).players?.get(room.sessionId);
  return me ? [...me.items] : [];
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const first = await client.joinOrCreate('inventory', { token });
await until(() => first.state !== undefined && itemsOf(first) !== undefined, 'state');
await new Promise((r) => setTimeout(r, 100));
const before = itemsOf(first).length;
say(`joined ${first.roomId}; inventory has ${before} items`);
for (const item of ['sword', 'shield', `potion-${Date.now() % 1000}`]) first.send('pickup', item);
await until(() => itemsOf(first).length === before + 3, 'pickups');
say(`picked up 3 items: ${itemsOf(first).join(', ')}`);
await first.leave();
say('left (the server saves on leave)');

const again = await client.joinOrCreate('inventory', { token });
await until(() => itemsOf(again).length === before + 3, 'the saved inventory');
say(`rejoined ${again.roomId}; inventory has ${itemsOf(again).length} items: ${itemsOf(again).join(', ')}`);
await again.leave();

const worldA = await client.create('world', { token });
const worldB = await client.create('world', { token });
const counter = (r: Room): number => (r.state as { counter?: number }).counter ?? -1;
await until(() => counter(worldA) >= 0 && counter(worldB) >= 0, 'world state');
const start = counter(worldB);
say(`two world rooms ${worldA.roomId} and ${worldB.roomId}; counter = ${start}`);
worldA.send('bump');
await until(() => counter(worldB) === start + 1, 'the other room to see the bump');
say(`bumped in ${worldA.roomId}; ${worldB.roomId} sees counter = ${counter(worldB)}`);
await worldA.leave();
await worldB.leave();
say('done');
process.exit(0);
