import { createServer } from 'node:net';

/**
 * A free loopback port: listen on port 0, read the port, close. For the tests'
 * and the benchmark's own servers (127.0.0.1 only).
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
