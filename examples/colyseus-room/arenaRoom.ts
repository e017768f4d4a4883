/**
 * The example's arena room: its state (a round counter and the fighters'
 * scores) belongs to the arena, not to any player, and survives a restart or
 * a deploy. The arena's name (the `arena` create option, e.g. 'north') is its
 * persistent id; register it with `server.define('arena', ArenaRoom).filterBy(['arena'])`
 * so that clients of one arena share one room.
 */
import { ErrorCode, Room, ServerError, definePlugins, logger, type Client } from '@colyseus/core';
import { schema, t, type SchemaType } from '@colyseus/schema';
import { RoomStateHeldError, StorePlugin } from '../../plugin.js';
import { log } from './rooms.js';

export const Fighter = schema({ score: t.uint32().default(0) }, 'ArenaFighter');
export type Fighter = SchemaType<typeof Fighter>;
export const ArenaState = schema({
  /** Bumped by every hit (and set by 'round'): a restored arena continues the count. */
  round: t.uint32().default(0),
  /** When the state last changed (server ms), so a client can tell how old a restored state is. */
  changedAt: t.float64().default(0),
  fighters: t.map(Fighter),
  /** The last few events, newest last. */
  log: t.array('string'),
}, 'ArenaState');
export type ArenaState = SchemaType<typeof ArenaState>;

/** How an arena room persists its state. */
export interface ArenaConfig {
  /** Snapshot interval (ms of the room's clock). */
  everyMs: number;
  /** Restore and snapshot at all (false: a room that forgets, for comparison). Default true. */
  persist?: boolean;
  /** How long a second room of the same arena waits for the first to let go. */
  handoffMs?: number;
}

const LOG_LENGTH = 8;
const NAME = /^[a-z0-9-]{1,32}$/;

/** The arena's name from the create options: a short lowercase name (anything else is the 'main' arena). */
const arenaName = (options: { arena?: unknown } | undefined): string =>
  typeof options?.arena === 'string' && NAME.test(options.arena) ? options.arena : 'main';

/** An arena room class persisting its state per `config`. */
export function arenaRoom(config: ArenaConfig): new () => Room<{ state: ArenaState }> {
  return class ArenaRoom extends Room<{ state: ArenaState }> {
    override plugins = definePlugins([new StorePlugin({ requireUserId: false })]);
    override state = new ArenaState();

    override async onCreate(options: { arena?: unknown }): Promise<void> {
      const arena = arenaName(options);
      if (config.persist !== false) {
        try {
          // Replaces this.state with the saved one, if any: use this.state from here on.
          const { restored, savedAt } = await this.plugins.store.persistState({
            id: `arena:${arena}`, everyMs: config.everyMs, ...(config.handoffMs === undefined ? {} : { handoffMs: config.handoffMs }),
          });
          if (restored) log(`arena ${arena} restored (saved ${new Date(savedAt ?? 0).toISOString()})`);
        } catch (err) {
          // The server log says why; the client learns only that this arena cannot open now.
          logger.error(`arena ${arena} not created: ${(err as Error).message}`);
          throw new ServerError(ErrorCode.MATCHMAKE_UNHANDLED, err instanceof RoomStateHeldError ? `arena ${arena} is open elsewhere` : `arena ${arena} is unavailable`);
        }
      }
      this.onMessage('hit', (client: Client, who: unknown) => {
        if (typeof who !== 'string' || !NAME.test(who)) return;
        const f = this.state.fighters.get(who) ?? new Fighter();
        f.score++;
        this.state.fighters.set(who, f);
        this.state.round++;
        this.note(`${client.sessionId} hit ${who}`);
      });
      this.onMessage('round', (_client: Client, n: unknown) => {
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff_ffff) return;
        this.state.round = n;
        this.state.changedAt = Date.now();
      });
    }

    private note(line: string): void {
      this.state.changedAt = Date.now();
      this.state.log.push(line);
      while (this.state.log.length > LOG_LENGTH) this.state.log.shift();
    }
  };
}

/** The arena room of the example server: snapshots every 5 s, and at dispose (and so at a graceful shutdown). */
export const ArenaRoom = arenaRoom({ everyMs: 5000 });
