// better-sqlite3 ships no types; stores.ts declares the few calls it makes.
declare module 'better-sqlite3';
