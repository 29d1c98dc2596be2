import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import { connectRedis } from './connection.js';
import { RedisReplyError, autoClaimReply, deliveryCounts, fieldOf, pendingTotal, readGroupEntries, type StreamEntry } from './replies.js';

/**
 * `source: { type: redis }` of a pipeline file: a Redis Stream shared by a consumer group. Each entry is one
 * record; the group hands it to one worker, and to another when that worker stops acknowledging.
 */
export interface RedisSourceConfig {
  type: 'redis';
  /** Default redis://127.0.0.1:6379. */
  url?: string;
  /** The stream key the texts are added to (XADD). */
  stream: string;
  /** Consumer group; created (reading the stream from its start) when missing. Default "attnflow". */
  group?: string;
  /** This worker's name in the group. Default: host name and process id. */
  consumer?: string;
  /** The entry field that holds the text (default "text"). */
  field?: string;
  /** The entry field that holds the second text (the context for qa). */
  pairField?: string;
  /** Entries per read (XREADGROUP COUNT, default 64). */
  count?: number;
  /** How long a read waits for new entries (XREADGROUP BLOCK, default 2000 ms); also how long a stop may wait. */
  blockMs?: number;
  /** Entries pending this long with an unresponsive worker are claimed by a live one (default 60000 ms). */
  claimIdleMs?: number;
  /** An entry delivered more than this many times goes to the dead letters unprocessed (default 5). */
  maxDeliveries?: number;
}

/** One entry as a record to run: its stream id, its texts, and how often the group has delivered it. */
export interface StreamRecord {
  id: string;
  text: string;
  pair?: string;
  deliveries: number;
  /** Why it goes to the dead letters without being run (no text field, delivered too often). */
  error?: string;
}

export const defaultConsumer = () => `${hostname()}-${process.pid}`;

/** The source's settings with every default filled in. */
export function resolveRedisSource(cfg: RedisSourceConfig): Required<Omit<RedisSourceConfig, 'pairField'>> & Pick<RedisSourceConfig, 'pairField'> {
  return {
    type: 'redis', url: cfg.url ?? 'redis://127.0.0.1:6379', stream: cfg.stream, group: cfg.group ?? 'attnflow', consumer: cfg.consumer ?? defaultConsumer(),
    field: cfg.field ?? 'text', pairField: cfg.pairField, count: cfg.count ?? 64, blockMs: cfg.blockMs ?? 2000,
    claimIdleMs: cfg.claimIdleMs ?? 60_000, maxDeliveries: cfg.maxDeliveries ?? 5,
  };
}

/**
 * Keeps entries this consumer still owns: resets their idle time (XCLAIM to itself, JUSTID, which does not count a
 * delivery) so a long batch is not claimed away from a live worker. An entry another worker has claimed meanwhile
 * is left to it.
 */
const KEEP_LUA = `
local kept = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
    kept = kept + 1
  end
end
return kept`;

/**
 * Reads a stream as one consumer of a group. Order of service: first this consumer's own pending entries (a
 * restart under the same name), then, every claimIdleMs/4, entries idle longer than claimIdleMs at other consumers
 * (XAUTOCLAIM), otherwise new entries (XREADGROUP >). Entries handed out are kept alive until acknowledged.
 */
export class RedisStreamSource {
  readonly settings: ReturnType<typeof resolveRedisSource>;
  /** Entries handed out and not yet acknowledged. */
  private readonly held = new Set<string>();
  /** Where the scan of this consumer's own pending entries has reached; undefined once done. */
  private ownCursor: string | undefined = '0-0';
  private claimCursor = '0-0';
  private lastClaim = 0;
  private readonly keeper: NodeJS.Timeout;
  redeliveries = 0;

  private constructor(cfg: RedisSourceConfig, readonly commands: Redis, private readonly reader: Redis) {
    this.settings = resolveRedisSource(cfg);
    this.keeper = setInterval(() => void this.keep().catch(() => undefined), Math.max(this.settings.claimIdleMs / 3, 50));
    this.keeper.unref();
  }

  /** Connects (one connection for commands, one for blocking reads) and creates the group if it is missing. */
  static async open(cfg: RedisSourceConfig): Promise<RedisStreamSource> {
    const { url, stream, group } = resolveRedisSource(cfg);
    const commands = await connectRedis(url);
    const reader = await connectRedis(url).catch((e: unknown) => {
      commands.disconnect();
      throw e;
    });
    const source = new RedisStreamSource(cfg, commands, reader);
    try {
      await commands.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM');
    } catch (e) {
      if (!(e as Error).message.startsWith('BUSYGROUP')) {
        source.close();
        throw new RedisReplyError(`source stream "${stream}": cannot create group "${group}": ${(e as Error).message}`);
      }
    }
    return source;
  }

  /** Up to `max` records; waits at most blockMs for new entries, and returns none when there are none. */
  async next(max: number): Promise<StreamRecord[]> {
    const { stream, group, consumer, claimIdleMs, blockMs } = this.settings;
    const count = Math.max(1, Math.min(max, this.settings.count));
    if (this.ownCursor !== undefined) {
      const own = readGroupEntries(await this.commands.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'STREAMS', stream, this.ownCursor));
      this.ownCursor = own.length ? own[own.length - 1].id : undefined;
      if (own.length) return this.records(own, await this.counts(own));
    }
    if (performance.now() - this.lastClaim >= claimIdleMs / 4) {
      const { cursor, entries } = autoClaimReply(await this.commands.call('XAUTOCLAIM', stream, group, consumer, claimIdleMs, this.claimCursor, 'COUNT', count));
      this.claimCursor = cursor;
      // A full pass over the group's pending entries ends here; the next one waits for its turn.
      if (cursor === '0-0') this.lastClaim = performance.now();
      if (entries.length) return this.records(entries, await this.counts(entries));
    }
    const fresh = readGroupEntries(await this.reader.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>'));
    return this.records(fresh, new Map());
  }

  /** How often the group has delivered these entries (all now pending at this consumer). */
  private async counts(entries: StreamEntry[]): Promise<Map<string, number>> {
    const { stream, group, consumer } = this.settings;
    // This consumer's other pending entries may lie in the same id range, hence the larger count.
    return deliveryCounts(await this.commands.call('XPENDING', stream, group, entries[0].id, entries[entries.length - 1].id, entries.length + this.held.size, consumer));
  }

  private records(entries: StreamEntry[], counts: Map<string, number>): StreamRecord[] {
    const { field, pairField, maxDeliveries } = this.settings;
    return entries.map((entry) => {
      this.held.add(entry.id);
      const deliveries = counts.get(entry.id) ?? 1;
      if (deliveries > 1) this.redeliveries++;
      const text = fieldOf(entry, field) ?? '';
      const pair = pairField === undefined ? undefined : fieldOf(entry, pairField);
      const record: StreamRecord = { id: entry.id, text, pair, deliveries };
      if (deliveries > maxDeliveries) record.error = `delivered ${deliveries} times (more than maxDeliveries ${maxDeliveries}) without being acknowledged: the workers that took it stopped or failed before committing it`;
      else if (fieldOf(entry, field) === undefined) record.error = `no field "${field}" (fields: ${entry.fields.filter((_, i) => i % 2 === 0).join(', ') || 'none'})`;
      else if (pairField !== undefined && pair === undefined) record.error = `no field "${pairField}"`;
      else if (!text.trim()) record.error = 'empty text';
      return record;
    });
  }

  private async keep(): Promise<void> {
    if (!this.held.size) return;
    const { stream, group, consumer } = this.settings;
    await this.commands.eval(KEEP_LUA, 1, stream, group, consumer, ...this.held);
  }

  /** Acknowledges entries whose output (or dead letter) is written; they are never delivered again. */
  async ack(ids: string[]): Promise<void> {
    if (!ids.length) return;
    await this.commands.call('XACK', this.settings.stream, this.settings.group, ...ids);
    for (const id of ids) this.held.delete(id);
  }

  /** Entries the whole group has been handed and not yet acknowledged. */
  async pending(): Promise<number> {
    return pendingTotal(await this.commands.call('XPENDING', this.settings.stream, this.settings.group));
  }

  /**
   * Closes the connections at once: every command whose reply matters has been awaited, and a blocking read cut
   * short leaves its entries pending, to be claimed.
   */
  close(): void {
    clearInterval(this.keeper);
    this.reader.disconnect();
    this.commands.disconnect();
  }
}
