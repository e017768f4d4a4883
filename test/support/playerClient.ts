/**
 * A real @colyseus/sdk client's side of the player rooms of
 * test/fixtures/playerRooms.ts, and the player's records as stored: what the
 * player-session tests (one process and several) ask and check.
 */
import type { Room as ClientRoom } from '@colyseus/sdk';
import { buildKey, schemaCodec, type Store } from '../../plugin.js';
import { decodeRecord } from '../../src/colyseus/envelope.js';
import { BAG, Bag, PROFILE, Profile, type PlayerView } from '../fixtures/playerRooms.js';

const profileCodec = schemaCodec(Profile);
const bagCodec = schemaCodec(Bag);

/** The player's records as stored in `store` now (undefined: never saved). */
export async function storedPlayer(store: Store, userId: number): Promise<PlayerView | undefined> {
  const [p, b] = await Promise.all([store.get(buildKey(PROFILE, userId)), store.get(buildKey(BAG, userId))]);
  if (!p && !b) return undefined;
  const profile = p ? decodeRecord(profileCodec, p) : undefined;
  const bag = b ? decodeRecord(bagCodec, b) : undefined;
  return { gold: profile?.gold ?? -1, bagGold: bag?.gold ?? -1, items: bag ? [...bag.items] : [], step: profile?.step ?? -1 };
}

/** The room's view of this client's player (a round trip, so every message sent before is applied). */
export function ask(room: ClientRoom): Promise<PlayerView | null> {
  return new Promise((resolve) => {
    const off = room.onMessage('state', (v: PlayerView | null) => { off(); resolve(v); });
    room.send('get');
  });
}

/** Asks the room to save this player now: 'ok', or the error code it failed with. */
export function saveNow(room: ClientRoom): Promise<string> {
  return new Promise((resolve) => {
    const off = room.onMessage('saved', (v: string) => { off(); resolve(v); });
    room.send('save');
  });
}

/** Resolves with the close code once the room closes this client. */
export const closed = (room: ClientRoom): Promise<number> => new Promise((resolve) => room.onLeave((code: number) => resolve(code)));
