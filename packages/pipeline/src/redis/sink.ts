import type { Redis } from 'ioredis';
import type { TaskName, TaskResults } from '../tasks/index.js';
import { connectRedis } from './connection.js';

/** `sink: { type: redis }` of a pipeline file: results (and dead letters) as entries of Redis Streams. */
export interface RedisSinkConfig {
  type: 'redis';
  /** Default: the source's url. */
  url?: string;
  /** The stream results are added to. */
  stream: string;
  /** The stream of records that failed, with the reason (default `<stream>:dead-letter`). */
  deadLetter?: string;
  /** The hash from source entry id to where its result went (default `<stream>:ids`): what makes writes idempotent. */
  ids?: string;
  /** Copy the input text into each result (default true). */
  includeText?: boolean;
}

/** One finished record for a stream sink: its source entry id and its JSON object (or why it failed). */
export interface StreamOutput {
  id: string;
  record: Record<string, unknown>;
  error?: string;
  /** The input text and the task's result, for sinks with typed columns (Arrow). */
  text?: string;
  result?: TaskResults[TaskName];
}

/** Where a worker's results go: each source id is written once, however often its record is run. */
export interface StreamSink {
  /** Writes the records no earlier delivery wrote; resolves once they are durable and marked; returns how many were new. */
  write(rows: StreamOutput[]): Promise<number>;
  /** Called once every write has been awaited (or one failed). */
  close(): void | Promise<void>;
}

/**
 * Writes each source id once: HSETNX on the ids hash decides, inside one script, whether the entry is added — so a
 * record run twice (its worker died after writing and before acknowledging, or was too slow and had it claimed)
 * is in the output once. The hash value is `<stream> <entry id>`: where a source id's result can be read.
 */
const WRITE_ONCE_LUA = `
local written = 0
for i = 1, #ARGV, 3 do
  local id, err, record = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HSETNX', KEYS[3], id, '') == 1 then
    local stream, entry = KEYS[1], nil
    if err == '' then
      entry = redis.call('XADD', stream, '*', 'id', id, 'record', record)
    else
      stream = KEYS[2]
      entry = redis.call('XADD', stream, '*', 'id', id, 'error', err, 'record', record)
    end
    redis.call('HSET', KEYS[3], id, stream .. ' ' .. entry)
    written = written + 1
  end
end
return written`;

export class RedisStreamSink implements StreamSink {
  readonly output: string;
  readonly deadLetter: string;
  readonly ids: string;

  private constructor(cfg: RedisSinkConfig, private readonly redis: Redis) {
    this.output = cfg.stream;
    this.deadLetter = cfg.deadLetter ?? `${cfg.stream}:dead-letter`;
    this.ids = cfg.ids ?? `${cfg.stream}:ids`;
  }

  static async open(cfg: RedisSinkConfig, defaultUrl: string): Promise<RedisStreamSink> {
    return new RedisStreamSink(cfg, await connectRedis(cfg.url ?? defaultUrl));
  }

  /** Adds the records not written before; returns how many were new. Resolves once Redis has applied them. */
  async write(rows: StreamOutput[]): Promise<number> {
    if (!rows.length) return 0;
    const args = rows.flatMap((r) => [r.id, r.error ?? '', JSON.stringify(r.record)]);
    const written = await this.redis.eval(WRITE_ONCE_LUA, 3, this.output, this.deadLetter, this.ids, ...args);
    return typeof written === 'number' ? written : 0;
  }

  /** Closes the connection at once (every write has been awaited). */
  close(): void {
    this.redis.disconnect();
  }
}
