// The test helpers that need no browser, shared by the browser tests (harness.mjs re-exports
// them) and the Socket.IO client tests (tests/socketio): timed progress lines, the check that
// fails a test, polling, publishing on tickrouter's Redis, minting tokens, and how a test ends.

import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { promisify } from 'node:util';

const started = Date.now();
/** A progress line, with the seconds since the test started. */
export const step = (what) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${what}`);

export function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

/**
 * Asks `probe` until it returns something truthy (returned), every `intervalMs`: for state only
 * the server knows (its counters, a job's status), where there is no page condition to wait on.
 */
export async function poll(what, probe, { timeoutMs = 45_000, intervalMs = 250 } = {}) {
  for (const deadline = Date.now() + timeoutMs; ;) {
    const got = await probe();
    if (got) return got;
    check(Date.now() < deadline, `${what} within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** redis-cli against the Redis tickrouter reads: REDIS_SOCKET (a Unix socket) or REDIS_URL. */
export async function redisCli(...args) {
  const target = process.env.REDIS_SOCKET
    ? ['-s', process.env.REDIS_SOCKET]
    : process.env.REDIS_URL ? ['-u', process.env.REDIS_URL] : null;
  if (!target) throw new Error('REDIS_SOCKET or REDIS_URL must say where tickrouter\'s Redis is');
  const { stdout } = await promisify(execFile)('redis-cli', [...target, ...args]);
  return stdout.trim();
}

/** PUBLISH on the Redis tickrouter reads; returns the number of subscribers that got it. */
export async function redisPublish(channel, message) {
  return Number(await redisCli('publish', channel, message));
}

const base64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** An HS256 JWT with these claims, signed with `secret`. */
export function mintToken(claims, secret) {
  const signed = `${base64url({ alg: 'HS256', typ: 'JWT' })}.${base64url(claims)}`;
  return `${signed}.${createHmac('sha256', secret).update(signed).digest('base64url')}`;
}

export const nowSecs = () => Math.floor(Date.now() / 1000);

/** Runs `main` and exits: 0 with "NAME passed", 1 with the failure. */
export function run(name, main) {
  main().then(
    () => {
      step(`${name} passed`);
      process.exit(0);
    },
    (err) => {
      console.error(`${name} FAILED: ${err.stack || err}`);
      process.exit(1);
    },
  );
}
