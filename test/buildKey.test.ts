import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { buildKey, keyPrefix, InvalidArgumentError } from '../src/index.js';

describe('buildKey', () => {
  it('is fixed-width hex: byte-identical for the same inputs, numbers or bigints', () => {
    expect(buildKey(7, 42, [1, 2])).to.equal('00000007:000000000000002a:0000000000000001:0000000000000002');
    expect(buildKey(7n, 42n, [1n, 2n])).to.equal(buildKey(7, 42, [1, 2]));
    expect(buildKey(1, 2n ** 64n - 1n)).to.equal('00000001:ffffffffffffffff');
  });

  it('gives the same key in another process', () => {
    const code = "import('./src/buildKey.ts').then(m => process.stdout.write(m.buildKey(3, 2n**63n + 5n, [9, 2n**64n - 1n])))";
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { encoding: 'utf8' });
    expect(r.stdout).to.equal(buildKey(3, 2n ** 63n + 5n, [9, 2n ** 64n - 1n]));
  });

  it('gives distinct keys for distinct inputs (including how params are split)', () => {
    const seen = new Map<string, string>();
    const ids = [0, 1, 15, 16, 255, 2 ** 32 - 1];
    for (const f of ids) for (const u of [...ids, 2 ** 53 - 1]) {
      const lists: number[][] = [[], [0], [0, 0], [1], [1, 0], [0, 1], [16], [2 ** 40]];
      for (const p of lists) {
        const k = buildKey(f, u, p);
        const label = JSON.stringify([f, u, p]);
        expect(seen.get(k), `${label} collides with ${seen.get(k)}`).to.equal(undefined);
        seen.set(k, label);
      }
    }
  });

  it('shares one prefix per (funcId, userId), sorted by params numerically', () => {
    const params: bigint[][] = [[0n], [1n], [9n], [10n], [255n], [256n], [2n ** 40n], [2n ** 64n - 1n], [1n, 0n], [1n, 5n]];
    const keys = params.map((p) => buildKey(5, 99, p));
    const sorted = [...keys].sort();
    const numeric = [...params].sort((a, b) => {
      for (let i = 0; i < Math.max(a.length, b.length); i++) {
        if (a[i] === undefined) return -1;
        if (b[i] === undefined) return 1;
        if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
      }
      return 0;
    }).map((p) => buildKey(5, 99, p));
    expect(sorted).to.deep.equal(numeric);
    for (const k of keys) expect(k.startsWith(keyPrefix(5, 99))).to.equal(true);
    expect(buildKey(5, 100, [0]).startsWith(keyPrefix(5, 99))).to.equal(false);
    expect(buildKey(5, 99).startsWith(keyPrefix(5, 99))).to.equal(true);
  });

  it('rejects negative, fractional, unsafe and out-of-range ids with InvalidArgumentError', () => {
    const bad: [unknown, unknown, unknown][] = [
      [-1, 1, []], [1.5, 1, []], [2 ** 32, 1, []], [1, -1, []], [1, 0.1, []], [1, 2 ** 53, []],
      [1, 2n ** 64n, []], [1, -1n, []], [1, 1, [-1]], [1, 1, [2n ** 64n]], [1, 1, [NaN]],
      [1, 1, [Infinity]], ['1', 1, []], [1, '1', []], [1, 1, ['1']], [1, 1, 'nope'], [1, 1, new Array(33).fill(0)],
    ];
    for (const [f, u, p] of bad) {
      expect(() => buildKey(f as number, u as number, p as number[]), JSON.stringify([String(f), String(u)])).to.throw(InvalidArgumentError);
    }
  });
});
