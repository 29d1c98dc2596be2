/**
 * Progress on stderr: a bar redrawn in place on a terminal, a plain line every few seconds otherwise (logs,
 * CI). Shows records/s, tokens/s, failures and, when the input size is known, the share done and an ETA.
 */
export interface ProgressState {
  records: number;
  failed: number;
  tokens: number;
  /** Input bytes consumed and total, when known. */
  bytes?: number;
  totalBytes?: number;
}

export interface Progress {
  update(state: ProgressState): void;
  done(state: ProgressState): void;
}

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : `${Math.round(n)}`);
const duration = (s: number) => (s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(Math.floor(s % 60)).padStart(2, '0')}s` : `${s.toFixed(0)}s`);

export function createProgress(stream: NodeJS.WriteStream = process.stderr, label = 'attnflow'): Progress {
  const start = performance.now();
  const tty = stream.isTTY === true;
  let lastDraw = 0;
  const line = (s: ProgressState, final: boolean) => {
    const secs = Math.max((performance.now() - start) / 1000, 1e-3);
    const parts = [`${fmt(s.records)} records`, `${fmt(s.records / secs)} rec/s`, `${fmt(s.tokens / secs)} tok/s`];
    if (s.failed) parts.push(`${fmt(s.failed)} failed`);
    let bar = '';
    if (s.totalBytes && s.bytes !== undefined) {
      const frac = Math.min(s.bytes / s.totalBytes, 1);
      const width = 24;
      bar = `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${(frac * 100).toFixed(0).padStart(3)}% `;
      if (!final && frac > 0) parts.push(`ETA ${duration((secs / frac) * (1 - frac))}`);
    }
    parts.push(duration(secs));
    return `${label} ${bar}${parts.join(' · ')}`;
  };
  return {
    update(s) {
      const now = performance.now();
      if (now - lastDraw < (tty ? 100 : 5000)) return;
      lastDraw = now;
      stream.write(tty ? `\r\x1b[2K${line(s, false)}` : `${line(s, false)}\n`);
    },
    done(s) {
      stream.write(tty ? `\r\x1b[2K${line(s, true)}\n` : `${line(s, true)}\n`);
    },
  };
}
