import { join } from 'node:path';
import { CorruptionError } from '../../../errors.js';
import { engineLog } from '../../../log.js';
import type { FileSystem } from './fs.js';
import { HINT_FILE } from './hint.js';
import { READ_LOG } from './readStore.js';
import { WRITE_LOG } from './writeStore.js';

/*
 * Which files a store directory may hold at open, and what open does with
 * each set (docs/durability.md, "File sets at open", has the table).
 */

/** What a crash mid-create (`*.tmp`, then renamed in) or mid-compaction (`*.compact`) can leave beside whole logs. */
const LEFTOVERS = [`${WRITE_LOG}.tmp`, `${READ_LOG}.tmp`, `${HINT_FILE}.tmp`, `${WRITE_LOG}.compact`, `${READ_LOG}.compact`];

/**
 * Refuses a directory whose source of truth is gone. `write.log` is created
 * (durably) before any other file of a store and is only ever replaced by an
 * atomic rename, so no crash leaves it missing beside another file tickstore
 * writes: only a fresh directory (at most a stale LOCK and the first create's
 * `write.log.tmp`) opens without it. Anything else means the data went
 * elsewhere; opening it as empty would then overwrite the replica, maybe the
 * only surviving copy. (A missing replica is fine: it is rebuilt from the
 * write log.)
 */
export function checkFileSet(fs: FileSystem, dir: string): void {
  if (fs.exists(join(dir, WRITE_LOG))) return;
  const found = fs.readdir(dir).filter((f) => f !== `${WRITE_LOG}.tmp` && (f === READ_LOG || f === HINT_FILE || LEFTOVERS.includes(f)));
  if (found.length === 0) return;
  engineLog('open %s refused: %s is missing beside %s', dir, WRITE_LOG, found.join(', '));
  throw new CorruptionError(join(dir, WRITE_LOG), 0,
    `the write log is missing while ${found.sort().join(', ')} ${found.length === 1 ? 'is' : 'are'} present, which no crash leaves; refusing to open (nothing was changed). Restore ${WRITE_LOG}, or move the directory aside to start over`);
}

/** Deletes what a crash mid-create or mid-compaction left beside whole logs; nothing else (other names are never touched). */
export function removeLeftovers(fs: FileSystem, dir: string): void {
  for (const f of fs.readdir(dir)) if (LEFTOVERS.includes(f)) fs.unlink(join(dir, f));
}
