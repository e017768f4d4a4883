import { expect } from 'chai';
import { readFileSync } from 'node:fs';

/**
 * README snippets marked `<!-- from FILE -->` must appear verbatim in FILE,
 * so the code the README shows is the code the tests run.
 */
describe('README', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/<!-- from (\S+) -->\n```ts\n([\s\S]*?)```/g)];

  it('has snippets taken from the tested example', () => {
    expect(blocks.length).to.be.greaterThan(3);
  });

  for (const [, file, code] of blocks) {
    it(`shows code that is in ${file}: ${code!.split('\n').find((l) => l.trim() && !l.trim().startsWith('//'))!.trim().slice(0, 50)}`, () => {
      const source = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
      expect(source.includes(code!), `snippet not found verbatim in ${file}:\n${code}`).to.equal(true);
    });
  }
});
