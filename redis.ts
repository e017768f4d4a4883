/**
 * The Redis engine, as `tickstore/redis`: `openStore({ backend: redisBackend({ url, prefix }) })`.
 * Kept out of the main entry so that ioredis (an optional peer) loads only for those who use it.
 * @module tickstore/redis
 */
export { redisBackend, type RedisBackendOptions } from './src/engines/redis/index.js';
export { InvalidConfigError, StoreUnavailableError, OutcomeUnknownError, CrossSlotError, LeaseLostError } from './src/errors.js';
