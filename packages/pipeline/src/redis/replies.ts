/**
 * Redis replies as the stream commands give them (RESP2 arrays of strings), checked into typed values. ioredis
 * types `call` as `unknown`; these checks are where a reply of another shape is caught, with the command's name.
 */

/** One stream entry: its id (`ms-seq`) and its field/value pairs, flat as Redis sends them. */
export interface StreamEntry {
  id: string;
  fields: string[];
}

export class RedisReplyError extends Error {
  override name = 'RedisReplyError';
}

const isStrings = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');

function unexpected(command: string, reply: unknown): never {
  throw new RedisReplyError(`${command}: unexpected reply ${JSON.stringify(reply)?.slice(0, 200)}`);
}

/** `[[id, [field, value, …]], …]` (XRANGE, XAUTOCLAIM's second element, one stream of XREADGROUP). */
export function streamEntries(command: string, reply: unknown): StreamEntry[] {
  if (!Array.isArray(reply)) unexpected(command, reply);
  const out: StreamEntry[] = [];
  for (const item of reply) {
    if (!Array.isArray(item) || typeof item[0] !== 'string') unexpected(command, reply);
    // An entry deleted from the stream while pending comes back with no fields.
    const fields = item[1] ?? [];
    if (!isStrings(fields)) unexpected(command, reply);
    out.push({ id: item[0], fields });
  }
  return out;
}

/** XREADGROUP over one stream: its entries, or none when BLOCK timed out (a nil reply). */
export function readGroupEntries(reply: unknown): StreamEntry[] {
  if (reply === null) return [];
  if (!Array.isArray(reply) || reply.length !== 1 || !Array.isArray(reply[0])) unexpected('XREADGROUP', reply);
  return streamEntries('XREADGROUP', reply[0][1]);
}

/** XAUTOCLAIM: the cursor to go on from (`0-0` when the scan is complete) and the entries now owned. */
export function autoClaimReply(reply: unknown): { cursor: string; entries: StreamEntry[] } {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') unexpected('XAUTOCLAIM', reply);
  return { cursor: reply[0], entries: streamEntries('XAUTOCLAIM', reply[1]) };
}

/** Extended XPENDING: times each entry has been delivered, by id. */
export function deliveryCounts(reply: unknown): Map<string, number> {
  if (!Array.isArray(reply)) unexpected('XPENDING', reply);
  const counts = new Map<string, number>();
  for (const item of reply) {
    if (!Array.isArray(item) || typeof item[0] !== 'string' || typeof item[3] !== 'number') unexpected('XPENDING', reply);
    counts.set(item[0], item[3]);
  }
  return counts;
}

/** Summary XPENDING: how many entries the group has delivered and not yet acknowledged. */
export function pendingTotal(reply: unknown): number {
  if (!Array.isArray(reply) || typeof reply[0] !== 'number') unexpected('XPENDING', reply);
  return reply[0];
}

/** The value of a field of an entry, or undefined. */
export function fieldOf(entry: StreamEntry, name: string): string | undefined {
  for (let i = 0; i + 1 < entry.fields.length; i += 2) if (entry.fields[i] === name) return entry.fields[i + 1];
  return undefined;
}
