import type { Redis } from 'ioredis';
import { RedisReplyError } from './replies.js';

/**
 * What Redis knows of a file sink's parts: for each part (one per worker process), how many bytes of its results
 * file and of its dead-letter file are committed, and either the time its lease runs out or `sealed`. Bytes past
 * the committed length are an uncommitted tail (written, but its ids never recorded): they are cut, never read.
 * A part is written only by the process that opened it, only while unsealed; a part whose lease ran out (its
 * worker died or stalled past claimIdleMs) is sealed by whichever worker notices, and from then on its length is
 * final, so any worker may cut it back to that length.
 */
export interface PartState {
  name: string;
  results: number;
  deadLetters: number;
  sealed: boolean;
}

/** Committed lengths of one part's two files. */
export interface Committed {
  results: number;
  deadLetters: number;
}

/** What a commit came to: done; refused because its part was sealed (with the sealed lengths); or refused because other deliveries committed these ids first. */
export type CommitOutcome = { kind: 'ok' } | { kind: 'sealed'; committed: Committed } | { kind: 'taken'; ids: string[] };

// Milliseconds since the epoch on the Redis server: every lease is measured by the one clock all workers share.
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/** KEYS: parts, counter. ARGV: consumer, lease ms. A new part name (never used before), registered with nothing committed. */
const OPEN_LUA = `${NOW}
local part = ARGV[1] .. '-' .. redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], part, '0 0 ' .. (now + tonumber(ARGV[2])))
return part`;

/**
 * KEYS: ids, parts. ARGV: part, committed "r d" as the writer knows it, new r, new d, lease ms, then id/where pairs.
 * All or nothing: if any id is committed already (another delivery of it won), nothing is recorded.
 */
const COMMIT_LUA = `${NOW}
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if not cur then return {'missing'} end
local r, d, lease = string.match(cur, '^(%d+) (%d+) (%S+)$')
if lease == 'sealed' then return {'sealed', r, d} end
if r .. ' ' .. d ~= ARGV[2] then return {'moved', r, d} end
local taken = {'taken'}
for i = 6, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then taken[#taken + 1] = ARGV[i] end
end
if #taken > 1 then return taken end
for i = 6, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3] .. ' ' .. ARGV[4] .. ' ' .. (now + tonumber(ARGV[5])))
return {'ok'}`;

/**
 * KEYS: parts. ARGV: own part ('' for none), lease ms. Renews the own part's lease and seals every part whose lease
 * has run out; returns the parts sealed now, flat as name, r, d.
 */
const SWEEP_LUA = `${NOW}
local all = redis.call('HGETALL', KEYS[1])
local sealed = {}
for i = 1, #all, 2 do
  local part, r, d, lease = all[i], string.match(all[i + 1], '^(%d+) (%d+) (%S+)$')
  if lease and lease ~= 'sealed' then
    if part == ARGV[1] then
      redis.call('HSET', KEYS[1], part, r .. ' ' .. d .. ' ' .. (now + tonumber(ARGV[2])))
    elseif tonumber(lease) < now then
      redis.call('HSET', KEYS[1], part, r .. ' ' .. d .. ' sealed')
      sealed[#sealed + 1] = part
      sealed[#sealed + 1] = r
      sealed[#sealed + 1] = d
    end
  end
end
return sealed`;

/** KEYS: parts. ARGV: part, committed "r d". Seals a part its own writer is done with. */
const CLOSE_LUA = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and string.match(cur, '^(%d+ %d+) ') == ARGV[2] then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' sealed') end
return 0`;

const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');

function reply(command: string, x: unknown): string[] {
  if (!isStrings(x)) throw new RedisReplyError(`${command}: unexpected reply ${JSON.stringify(x)?.slice(0, 200)}`);
  return x;
}

const STATE = /^(\d+) (\d+) (\S+)$/;

/** The Redis keys of a file sink's commit markers and the scripts over them. */
export class PartLedger {
  /** Part name → committed lengths and lease. */
  readonly parts: string;
  /** Counter that makes part names unique. */
  readonly counter: string;

  /** `ids`: source entry id → where its result (or dead letter) was committed. */
  constructor(private readonly redis: Redis, readonly ids: string, private readonly leaseMs: number) {
    this.parts = `${ids}:parts`;
    this.counter = `${ids}:parts:next`;
  }

  async open(consumer: string): Promise<string> {
    const part = await this.redis.eval(OPEN_LUA, 2, this.parts, this.counter, consumer, this.leaseMs);
    if (typeof part !== 'string') throw new RedisReplyError(`open part: unexpected reply ${JSON.stringify(part)}`);
    return part;
  }

  /** Every part Redis knows, as of now. */
  async all(): Promise<PartState[]> {
    const flat = reply('HGETALL', await this.redis.call('HGETALL', this.parts));
    const out: PartState[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const m = STATE.exec(flat[i + 1]);
      if (!m) throw new RedisReplyError(`${this.parts}: part "${flat[i]}" has the state "${flat[i + 1]}" (expected "<bytes> <bytes> <lease ms|sealed>")`);
      out.push({ name: flat[i], results: Number(m[1]), deadLetters: Number(m[2]), sealed: m[3] === 'sealed' });
    }
    return out;
  }

  /** Ids of these that some delivery has committed. */
  async committed(ids: string[]): Promise<Set<string>> {
    if (!ids.length) return new Set();
    const found = await this.redis.call('HMGET', this.ids, ...ids);
    if (!Array.isArray(found)) throw new RedisReplyError(`HMGET: unexpected reply ${JSON.stringify(found)?.slice(0, 200)}`);
    return new Set(ids.filter((_, i) => found[i] !== null));
  }

  /** Records `ids` (with where each went) and the part's new lengths, unless the part is sealed or an id is taken. */
  async commit(part: string, was: Committed, now: Committed, ids: [id: string, where: string][]): Promise<CommitOutcome> {
    const r = reply('commit', await this.redis.eval(COMMIT_LUA, 2, this.ids, this.parts, part, `${was.results} ${was.deadLetters}`, now.results, now.deadLetters, this.leaseMs, ...ids.flat()));
    if (r[0] === 'ok') return { kind: 'ok' };
    if (r[0] === 'taken') return { kind: 'taken', ids: r.slice(1) };
    if (r[0] === 'sealed') return { kind: 'sealed', committed: { results: Number(r[1]), deadLetters: Number(r[2]) } };
    throw new RedisReplyError(r[0] === 'missing' ? `${this.parts}: part "${part}" was deleted while its worker wrote it` : `${this.parts}: part "${part}" has ${r[1]} + ${r[2]} bytes committed, not the ${was.results} + ${was.deadLetters} its writer committed: another process writes it`);
  }

  /** Renews `own`'s lease; seals and returns the parts whose lease ran out. */
  async sweep(own: string | undefined): Promise<PartState[]> {
    const flat = reply('sweep', await this.redis.eval(SWEEP_LUA, 1, this.parts, own ?? '', this.leaseMs));
    const out: PartState[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) out.push({ name: flat[i], results: Number(flat[i + 1]), deadLetters: Number(flat[i + 2]), sealed: true });
    return out;
  }

  /** Seals a part at the lengths its writer committed (a clean stop). */
  async close(part: string, committed: Committed): Promise<void> {
    await this.redis.eval(CLOSE_LUA, 1, this.parts, part, `${committed.results} ${committed.deadLetters}`);
  }
}
