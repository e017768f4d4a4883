/**
 * The trade room (room name `trade`): two joined players trade coins and
 * items with the economy API (src/economy). Player A sends
 * `offer { to, gives, wants, key }` with a key of its own choosing; B gets
 * `offered`, and `accept { offerId }` runs ONE atomic trade under A's key.
 * A client that lost the answer (disconnect, `trade-unknown`) simply sends
 * `accept` again: the same key applies the trade at most once.
 */
import { Room, type Client } from '@colyseus/core';
import {
  OutcomeUnknownError, TickstoreError,
  grant, processStore, trade, wallet, type AssetsInput,
} from '../../plugin.js';
import { authenticate, log } from './rooms.js';

/** What every player gets once, on their first join (its idempotency key makes it once per player, ever). */
const STARTER: AssetsInput = { coins: 100, items: { potion: 3 } };

interface Offer { from: number; to: number; gives: AssetsInput; wants: AssetsInput; key: string }

export class TradeRoom extends Room {
  private readonly offers = new Map<string, Offer>();
  private readonly users = new Map<string, number>();

  override onAuth(_client: Client, options: { token?: string }): { userId: number } {
    return authenticate(options);
  }

  override async onJoin(client: Client): Promise<void> {
    const userId = (client.auth as { userId: number }).userId;
    this.users.set(client.sessionId, userId);
    await grant(processStore(), userId, STARTER, `starter-${userId}`);
    client.send('wallet', await wallet(processStore(), userId));
  }

  override onLeave(client: Client): void {
    this.users.delete(client.sessionId);
  }

  override onCreate(): void {
    this.onMessage('wallet', async (client: Client) => {
      client.send('wallet', await wallet(processStore(), this.users.get(client.sessionId)!));
    });

    this.onMessage('offer', (client: Client, m: { to: number; gives?: AssetsInput; wants?: AssetsInput; key: string }) => {
      const from = this.users.get(client.sessionId)!;
      // The key is scoped by the offering user, so one client can never reuse (or squat on) another's keys.
      const offer: Offer = { from, to: m.to, gives: m.gives ?? {}, wants: m.wants ?? {}, key: `u${from}-${String(m.key)}` };
      const offerId = offer.key;
      this.offers.set(offerId, offer);
      for (const c of this.clients) if (this.users.get(c.sessionId) === m.to) c.send('offered', { offerId, from, gives: offer.gives, wants: offer.wants });
    });

    this.onMessage('accept', async (client: Client, m: { offerId: string }) => {
      const offer = this.offers.get(m.offerId);
      if (!offer || offer.to !== this.users.get(client.sessionId)) { client.send('trade-failed', { offerId: m.offerId, code: 'NO_SUCH_OFFER' }); return; }
      try {
        const receipt = await trade(processStore(), { a: offer.from, b: offer.to, aGives: offer.gives, bGives: offer.wants }, offer.key);
        this.offers.delete(m.offerId);
        for (const c of this.clients) {
          const u = this.users.get(c.sessionId);
          if (u === offer.from || u === offer.to) c.send('traded', { offerId: m.offerId, seq: receipt.seq, duplicate: receipt.duplicate, wallet: await wallet(processStore(), u) });
        }
      } catch (err) {
        // Unknown outcome: it may have applied. The offer stays, and accepting again retries with the SAME key — applied at most once.
        if (err instanceof OutcomeUnknownError) client.send('trade-unknown', { offerId: m.offerId });
        else if (err instanceof TickstoreError) { // InsufficientAssetsError, IdempotencyConflictError, …
          client.send('trade-failed', { offerId: m.offerId, code: err.code });
        } else {
          log(`trade ${m.offerId} failed: ${String(err)}`);
          client.send('trade-failed', { offerId: m.offerId, code: 'ERROR' });
        }
      }
    });
  }
}
