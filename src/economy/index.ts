/*
 * The economy: players' tradeable assets (coins and item counts) in wallet
 * records that only store transactions change, an idempotency key per
 * request, and an append-only ledger. See docs/economy.md.
 */
export { wallet, type Wallet } from './wallet.js';
export { grant, consume } from './supply.js';
export { trade, type TradeRequest } from './trade.js';
export type { Receipt } from './apply.js';
export { ECONOMY_TX_RETRIES } from './apply.js';
export { ledger, type LedgerEntry, type SupplyEntry, type TradeEntry, type LedgerOptions, type LedgerPage } from './ledger.js';
export { economyMetrics, type EconomyMetrics } from './economyMetrics.js';
export { MAX_KIND_LENGTH, MAX_KINDS_PER_REQUEST, MAX_IDEMPOTENCY_KEY_LENGTH, type Assets, type AssetsInput } from './assets.js';
export { WALLET_FUNC, LEDGER_FUNC, IDEMPOTENCY_FUNC } from './keys.js';
