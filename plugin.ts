/**
 * The Colyseus 0.18 entry point: the room plugin, the process store, codecs,
 * and everything the store itself exports.
 *
 * @module tickstore/plugin
 */
export * from './src/index.js';
export { StorePlugin, StoreCloseCode, type StorePluginOptions, type RecordSpec } from './src/colyseus/storePlugin.js';
export { playerMetrics, type PlayerMetrics } from './src/colyseus/playerMetrics.js';
export type { SecondSessionPolicy } from './src/colyseus/ownership.js';
export { attachStore, openProcessStore, processStore, hasProcessStore, closeProcessStore, closeStoreOnShutdown } from './src/colyseus/processStore.js';
export { jsonCodec, msgpackCodec, schemaCodec, type Codec } from './src/colyseus/codecs.js';
export { roomStateMetrics, MAX_STATE_ID_LENGTH, type PersistStateOptions, type RestoredState, type RoomStateMetrics } from './src/colyseus/roomState.js';
export { encodeRecord, decodeRecord, ENVELOPE_HEADER_BYTES } from './src/colyseus/envelope.js';
export { schemaFingerprint, fingerprintOf } from './src/colyseus/schemaFingerprint.js';
export type { CodecKind, CodecOptions, Migration, MigrationStep, Migrations, SchemaClass } from './src/colyseus/codecs.js';
export { updateShared, incrementShared, sharedCounterCodec, sharedStateMetrics, SHARED_ATTEMPTS, MAX_SHARED_FOLD, type SharedStateMetrics } from './src/colyseus/sharedState.js';
export * from './src/economy/index.js';
