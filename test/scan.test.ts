import { expect } from 'chai';
import { compareKeys } from '../src/keys.js';

// The scan rules (order, bounds, prefixes, cursors, paging) are in src/testkit/conformance.ts.
describe('the engine\'s key order', () => {
  it('compareKeys is UTF-8 byte order (not UTF-16 code units)', () => {
    const keys = ['a', 'b', 'c', 'd', 'é', '\uffff', '😀', 'ab', '\u007f', 'Z', '\u00ff', '\u0800', '𝄞', ''];
    const byBytes = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
    expect([...keys].sort(compareKeys)).to.deep.equal(byBytes);
    expect([...keys].sort(), 'UTF-16 order differs, so the test can tell them apart').to.not.deep.equal(byBytes);
    for (const x of keys) for (const y of keys) expect(Math.sign(compareKeys(x, y)), `${x} vs ${y}`).to.equal(Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y))));
  });
});
