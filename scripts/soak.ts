/**
 * Runs the durability suite at soak size:
 *
 *     npm run test:soak -- --iterations 10000
 *
 * --iterations N sets how many points each sweep checks (power-loss cuts,
 * I/O-error calls, corruption positions: every byte, fuzz inputs: 10 N,
 * model sequences: N / 10, SIGKILL crash cycles: N / 100).
 */
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const at = args.indexOf('--iterations');
const n = at >= 0 ? Number(args[at + 1]) : 2000;
if (!Number.isSafeInteger(n) || n <= 0) {
  console.error('usage: npm run test:soak -- --iterations N (a positive whole number)');
  process.exit(2);
}
const env = {
  ...process.env,
  TICKSTORE_SOAK_ITERATIONS: String(n),
  TICKSTORE_CRASH_CYCLES: String(Math.max(4, Math.floor(n / 100))),
};
console.log(`soak: ${n} iterations per sweep`);
const r = spawnSync(process.execPath, [
  'node_modules/mocha/bin/mocha.js', '--no-config', '--node-option', 'import=tsx', '--timeout', '0', '--exit',
  'test/durability/*.test.ts', 'test/crash.test.ts', 'test/faults.test.ts',
], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
