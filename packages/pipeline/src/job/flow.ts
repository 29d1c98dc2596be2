import type { Hash } from 'node:crypto';
import { Observable, share } from 'rxjs';
import type { SourceRecord } from '../sources.js';
import { digestRecord } from './checkpoint.js';
import { JobError } from './durable.js';

export type Sequenced = SourceRecord & { seq: number };

export interface FlowOptions {
  shard?: { index: number; count: number };
  /** Records a previous run committed: read (to check them against `resumeDigest`), not emitted. */
  resumed: number;
  /** The checkpoint's digest of those records, and its path for the message. */
  resumeDigest?: string;
  checkpoint?: string;
  /** Digest of the records as read; this fills in the skipped ones, the committer the rest. */
  inputHash: Hash;
  /** Most records emitted and not yet released. */
  limit: number;
  stopped: () => boolean;
}

/**
 * A source as an Observable of this shard's records, numbered in order (`seq`), read only while fewer than
 * `limit` are in flight (flow control: `release` as records are committed). On --resume the committed records
 * are read again and must hash to what the checkpoint says, or the run stops before writing anything.
 */
export function flowControlled(source: AsyncIterable<SourceRecord>, o: FlowOptions) {
  let inFlight = 0;
  let bytesSeen = 0;
  let wake: (() => void) | undefined;
  const release = (n: number) => {
    inFlight -= n;
    wake?.();
  };
  const changed = (what: string) => new JobError(`${what} the stopped run read (per ${o.checkpoint}); resuming would mix inputs: restore it, or start again with --overwrite`);
  const records$ = new Observable<Sequenced>((subscriber) => {
    let cancelled = false;
    const halted = () => cancelled || o.stopped();
    (async () => {
      let seq = 0;
      for await (const r of source) {
        if (halted()) break;
        bytesSeen += Buffer.byteLength(r.text) + 1;
        if (o.shard && r.index % o.shard.count !== o.shard.index) continue;
        const s = seq++;
        if (s < o.resumed) {
          digestRecord(o.inputHash, r);
          if (s === o.resumed - 1 && o.inputHash.copy().digest('hex') !== o.resumeDigest) throw changed(`the source's first ${o.resumed} records differ from those`);
          continue;
        }
        while (inFlight >= o.limit && !halted()) await new Promise<void>((res) => (wake = res));
        if (halted()) break;
        inFlight++;
        subscriber.next({ ...r, seq: s });
      }
      if (seq < o.resumed && !halted()) throw changed(`the source has ${seq} records, fewer than the ${o.resumed}`);
      subscriber.complete();
    })().catch((e) => subscriber.error(e));
    return () => {
      cancelled = true;
      wake?.();
    };
  }).pipe(share());
  return { records$, release, bytesSeen: () => bytesSeen };
}
