import { Redis } from 'ioredis';

export class RedisConnectionError extends Error {
  override name = 'RedisConnectionError';
}

/** The server a URL names, without its credentials, for messages. */
function serverOf(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    throw new RedisConnectionError(`"${url}" is not a Redis URL (expected redis://host:port or rediss://…)`);
  }
}

/**
 * A connection that is up before it is returned, so a wrong URL fails at start with its name instead of retrying
 * in the background. Later outages are retried by ioredis, and a command that cannot be sent fails, which stops
 * the worker. RESP2, so stream replies have the array shapes the Redis manual documents.
 */
export async function connectRedis(url: string): Promise<Redis> {
  const server = serverOf(url);
  const redis = new Redis(url, { lazyConnect: true, protocol: 2 });
  // Connection errors reach the commands they fail; the event would only print them a second time. The first
  // one is kept: connect() itself only says that the connection closed.
  let cause: Error | undefined;
  redis.on('error', (e: Error) => (cause ??= e));
  try {
    await redis.connect();
  } catch (e) {
    redis.disconnect();
    throw new RedisConnectionError(`cannot connect to ${server}: ${(cause ?? (e as Error)).message}`);
  }
  return redis;
}
