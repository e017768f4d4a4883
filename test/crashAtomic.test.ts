import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStore, type Store, type SyncMode } from '../src/index.js';
import {
  ACCOUNTS, GROUPS, INIT_KEY, INVENTORIES, ITEMS, ROUND_SPAN, START_BALANCE, accountKey, batchDeletes, batchValue, groupKey,
  groupOf, groupSize, invKey, itemName, ledgerKey, locKey, moveKey, throwingTransfer, transferAccounts, transferAmount,
} from './fixtures/atomicModel.js';
import { sleep, text, tmpDir } from './helpers.js';

/**
 * SIGKILL during atomic batches and transactions: a child (fixtures/
 * atomicWriter.ts) runs concurrent batches, account transfers and item moves
 * and is killed at a random moment, again and again on the same directory.
 * After every kill the store must hold no half-applied unit and every
 * acknowledged one. TICKSTORE_ATOMIC_CRASH_CYCLES sets the number of rounds.
 */
const WRITER = fileURLToPath(new URL('./fixtures/atomicWriter.ts', import.meta.url));
const CYCLES = Number(process.env.TICKSTORE_ATOMIC_CRASH_CYCLES ?? 10);

/** What the children acknowledged, over all rounds so far. */
interface Acked {
  /** Per group: the highest acknowledged batch stamp. */
  batch: Map<number, number>;
  transfers: Set<number>;
  thrown: Set<number>;
  /** Per item: the highest acknowledged move number. */
  moves: Map<number, number>;
}

interface Round { lines: string[]; exit: Promise<number | null>; kill: () => void; exited: () => boolean }

function runChild(dir: string, round: number, syncMode: SyncMode): Round {
  const cp = spawn(process.execPath, ['--import', 'tsx', WRITER, dir, String(round), syncMode], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  let done = false;
  cp.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!; // a line cut by the kill is not an acknowledgement
    lines.push(...parts);
  });
  const exit = new Promise<number | null>((r) => cp.once('exit', (code) => { done = true; r(code); }));
  return { lines, exit, kill: () => cp.kill('SIGKILL'), exited: () => done };
}

function record(lines: string[], acked: Acked): number {
  let n = 0;
  for (const l of lines) {
    const [tag, kind, a, b] = l.split(' ');
    if (tag === 'thrown') { acked.thrown.add(Number(a)); continue; }
    if (tag !== 'ack') continue;
    n++;
    if (kind === 'b') {
      const s = Number(a);
      const g = groupOf(s);
      if (s > (acked.batch.get(g) ?? -1)) acked.batch.set(g, s);
    } else if (kind === 't') {
      acked.transfers.add(Number(a));
    } else if (kind === 'm') {
      const x = Number(a);
      if (Number(b) > (acked.moves.get(x) ?? 0)) acked.moves.set(x, Number(b));
    } else {
      throw new Error(`unexpected line from the child: ${l}`);
    }
  }
  return n;
}

async function everything(store: Store): Promise<Map<string, string>> {
  const all = new Map<string, string>();
  let cursor: string | undefined;
  do {
    const page = await store.scan({ limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const e of page.entries) all.set(e.key, text(e.value)!);
    cursor = page.cursor;
  } while (cursor);
  return all;
}

/** Checks the recovered store against every invariant; returns a one-line summary. */
async function check(store: Store, acked: Acked, round: number): Promise<string> {
  const all = await everything(store);
  const at = `round ${round}`;
  // Point reads agree with the scan (the write store and the replica agree).
  for (const [k, v] of all) if (!k.startsWith('ledger:') && !k.startsWith('mv:')) expect(text(await store.get(k)), `${at}: get ${k}`).to.equal(v);
  const m = store.metrics();
  expect(m.readCount, `${at}: live keys, replica vs write store`).to.equal(m.writeCount);
  expect(m.writeCount, `${at}: live keys vs a full scan`).to.equal(all.size);

  const known = /^(grp:\d+:\d+|acct:\d+|ledger:\d+|inv:\d+|loc:\d+|mv:\d+:\d+|meta:init)$/;
  for (const k of all.keys()) expect(k, `${at}: unexpected key`).to.match(known);

  if (!all.has(INIT_KEY)) {
    // The initial batch is atomic too: nothing of it, and nothing after it.
    expect([...all.keys()], `${at}: keys without the initial batch`).to.deep.equal([]);
    expect(acked.batch.size + acked.transfers.size + acked.moves.size, `${at}: acknowledged units without init`).to.equal(0);
    return 'not initialized yet';
  }

  // Batches: each group is the image of exactly one stamp (or was never written).
  let groupsWritten = 0;
  for (let g = 0; g < GROUPS; g++) {
    const head = all.get(groupKey(g, 0));
    for (let j = groupSize(g); j < groupSize(g) + 4; j++) expect(all.has(groupKey(g, j)), `${at}: stray ${groupKey(g, j)}`).to.equal(false);
    if (head === undefined) {
      for (let j = 0; j < groupSize(g); j++) expect(all.get(groupKey(g, j)), `${at}: group ${g} without its head, key ${j}`).to.equal(undefined);
      expect(acked.batch.get(g), `${at}: group ${g} lost, acknowledged stamp`).to.equal(undefined);
      continue;
    }
    groupsWritten++;
    const s = Number(head.split('|')[0]);
    expect(groupOf(s), `${at}: group ${g} holds stamp ${s} of another group`).to.equal(g);
    expect(s, `${at}: stamp ${s} was never issued`).to.be.lessThan(ROUND_SPAN * (round + 1));
    for (let j = 0; j < groupSize(g); j++) {
      const got = all.get(groupKey(g, j));
      const want = batchDeletes(s, j) ? undefined : batchValue(s, g, j);
      expect(got === want, `${at}: group ${g} half-applied: key ${j} = ${got?.slice(0, 24)}, batch ${s} wrote ${want?.slice(0, 24)}`).to.equal(true);
    }
    const ack = acked.batch.get(g);
    if (ack !== undefined) expect(s, `${at}: group ${g}: acknowledged batch ${ack} lost`).to.be.at.least(ack);
  }

  // Transfers: the total is conserved and each balance is exactly its ledger entries' sum.
  const balance = Array.from({ length: ACCOUNTS }, (_, i) => Number(all.get(accountKey(i))));
  const expected = Array.from({ length: ACCOUNTS }, () => START_BALANCE);
  let ledger = 0;
  for (const [k, v] of all) {
    if (!k.startsWith('ledger:')) continue;
    ledger++;
    const t = Number(k.slice('ledger:'.length));
    expect(throwingTransfer(t), `${at}: transfer ${t} threw inside, yet its ledger entry exists`).to.equal(false);
    const [from, to, moved] = v.split(',').map(Number) as [number, number, number];
    expect([from, to], `${at}: ledger ${t}`).to.deep.equal(transferAccounts(t));
    expect(moved, `${at}: ledger ${t}`).to.be.within(0, transferAmount(t));
    expected[from]! -= moved;
    expected[to]! += moved;
  }
  expect(balance.reduce((a, b) => a + b, 0), `${at}: total of all balances ${JSON.stringify(balance)}`).to.equal(ACCOUNTS * START_BALANCE);
  expect(balance, `${at}: balances vs the ledger`).to.deep.equal(expected);
  for (const b of balance) expect(b, `${at}: a negative balance`).to.be.at.least(0);
  for (const t of acked.transfers) expect(all.has(ledgerKey(t)), `${at}: acknowledged transfer ${t} lost`).to.equal(true);
  for (const t of acked.thrown) expect(all.has(ledgerKey(t)), `${at}: thrown transfer ${t} wrote`).to.equal(false);

  // Moves: every item in exactly one inventory, where its loc says, after an unbroken chain of moves.
  const where = new Map<string, number>();
  for (let k = 0; k < INVENTORIES; k++) {
    for (const item of JSON.parse(all.get(invKey(k))!) as string[]) {
      expect(where.has(item), `${at}: ${item} in inventories ${where.get(item)} and ${k}`).to.equal(false);
      where.set(item, k);
    }
  }
  expect(where.size, `${at}: items held`).to.equal(ITEMS);
  let moves = 0;
  for (let x = 0; x < ITEMS; x++) {
    const [cur, n] = all.get(locKey(x))!.split('|').map(Number) as [number, number];
    expect(where.get(itemName(x)), `${at}: ${itemName(x)} is not where loc says`).to.equal(cur);
    let inv = 0;
    for (let i = 1; i <= n; i++) {
      const mv = all.get(moveKey(x, i));
      expect(mv, `${at}: move ${i} of item ${x} missing (loc says ${n})`).to.be.a('string');
      const [f, t] = mv!.split('>').map(Number) as [number, number];
      expect(f, `${at}: move ${i} of item ${x} starts in the wrong inventory`).to.equal(inv);
      inv = t;
    }
    expect(inv, `${at}: item ${x}: the chain of moves ends elsewhere`).to.equal(cur);
    expect(all.has(moveKey(x, n + 1)), `${at}: move ${n + 1} of item ${x} exists past loc`).to.equal(false);
    expect(n, `${at}: item ${x}: acknowledged move lost`).to.be.at.least(acked.moves.get(x) ?? 0);
    moves += n;
  }
  return `${groupsWritten} groups, ${ledger} transfers, ${moves} moves`;
}

describe('crash safety (SIGKILL) of atomic batches and transactions', function () {
  this.timeout(300_000);

  it(`a child killed mid-batch or mid-transaction leaves none half-applied and loses no ack (${CYCLES} rounds)`, async () => {
    const dir = tmpDir('atomic-crash');
    const acked: Acked = { batch: new Map(), transfers: new Set(), thrown: new Set(), moves: new Map() };
    let total = 0;
    let summary = '';
    let truncated = 0;
    let repaired = 0;
    for (let round = 0; round < CYCLES; round++) {
      const syncMode: SyncMode = round % 3 === 2 ? 'async-batch' : 'per-key';
      const child = runChild(dir, round, syncMode);
      // Most rounds are killed while writing; some early, maybe still opening (recovering, compacting).
      const early = round % 4 === 3;
      const target = early ? 0 : 50 + Math.floor(Math.random() * 1500);
      const started = Date.now();
      const killAt = early ? started + Math.floor(Math.random() * 1500) : started + 30_000;
      while (!child.exited() && Date.now() < killAt && (early || child.lines.length < target)) await sleep(2);
      expect(child.exited(), `round ${round}: the child exited by itself (code ${child.exited() ? await child.exit : ''})`).to.equal(false);
      if (!early) expect(child.lines.length, `round ${round}: the child wrote before it was killed`).to.be.at.least(target);
      child.kill();
      expect(await child.exit).to.equal(null);
      total += record(child.lines, acked);
      const store = await openStore({ dir });
      try {
        summary = await check(store, acked, round);
        const m = store.metrics();
        if (m.truncatedBytes > 0) truncated++;
        repaired += m.replicaRepaired;
      } finally { await store.close(); }
    }
    console.log(`      atomic crash rounds: ${CYCLES}, acknowledged units: ${total}; final state: ${summary}; ` +
      `opens that cut a log tail: ${truncated}, replica entries repaired: ${repaired}`);
  });
});
