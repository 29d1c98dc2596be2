import * as PImage from 'pureimage';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { deflateSync } from 'node:zlib';

/** The few drawing operations the charts need, so each chart is laid out once and drawn as SVG or PNG. */
export interface Painter {
  rect(x: number, y: number, w: number, h: number, fill: string, title?: string): void;
  text(x: number, y: number, s: string, o?: { size?: number; anchor?: 'start' | 'middle' | 'end'; vertical?: boolean; color?: string; bold?: boolean }): void;
}

/** Label widths are estimated (0.6 em per character) so that SVG and PNG lay out identically. */
export const textWidth = (s: string, size: number) => [...s].length * size * 0.6;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export class SvgPainter implements Painter {
  private parts: string[] = [];
  constructor(readonly width: number, readonly height: number) {}
  rect(x: number, y: number, w: number, h: number, fill: string, title?: string): void {
    this.parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${h}" fill="${fill}">${title ? `<title>${esc(title)}</title>` : ''}</rect>`);
  }
  text(x: number, y: number, s: string, o: Parameters<Painter['text']>[3] = {}): void {
    const anchor = o.anchor ?? 'start';
    const transform = o.vertical ? ` transform="rotate(-90 ${x} ${y})"` : '';
    this.parts.push(`<text x="${x}" y="${y}" font-size="${o.size ?? 11}" text-anchor="${anchor}" fill="${o.color ?? '#222'}"${o.bold ? ' font-weight="bold"' : ''}${transform} class="label">${esc(s)}</text>`);
  }
  toString(): string {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${this.width}" height="${this.height}" viewBox="0 0 ${this.width} ${this.height}" font-family="DejaVu Sans, Verdana, sans-serif">\n<rect width="100%" height="100%" fill="#ffffff"/>\n${this.parts.join('\n')}\n</svg>\n`;
  }
}

let fontLoaded = false;
const FONT = 'AttnflowSans';
function loadFont(): void {
  if (fontLoaded) return;
  PImage.registerFont(fileURLToPath(new URL('../assets/DejaVuSans.ttf', import.meta.url)), FONT).loadSync();
  fontLoaded = true;
}

export class PngPainter implements Painter {
  private readonly image: ReturnType<typeof PImage.make>;
  private readonly ctx: any;
  readonly labels: string[] = [];
  constructor(readonly width: number, readonly height: number) {
    loadFont();
    this.image = PImage.make(width, height);
    this.ctx = this.image.getContext('2d');
    this.ctx.fillStyle = '#ffffff';
    this.ctx.fillRect(0, 0, width, height);
  }
  rect(x: number, y: number, w: number, h: number, fill: string): void {
    this.ctx.fillStyle = fill;
    this.ctx.fillRect(x, y, w, h);
  }
  text(x: number, y: number, s: string, o: Parameters<Painter['text']>[3] = {}): void {
    const size = o.size ?? 11;
    this.labels.push(s);
    const ctx = this.ctx;
    ctx.font = `${size}px ${FONT}`;
    ctx.fillStyle = o.color ?? '#222222';
    const w = ctx.measureText(s).width;
    const shift = o.anchor === 'end' ? -w : o.anchor === 'middle' ? -w / 2 : 0;
    if (o.vertical) {
      ctx.save();
      ctx.translate(x, y);
      ctx.rotate(-Math.PI / 2);
      ctx.fillText(s, shift, 0);
      ctx.restore();
    } else ctx.fillText(s, x + shift, y);
  }
  /** The PNG bytes, with the labels drawn recorded in a tEXt chunk ("attnflow:labels", JSON). */
  async toPng(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    const sink = new PassThrough();
    sink.on('data', (c: Buffer) => chunks.push(c));
    await PImage.encodePNGToStream(this.image, sink);
    return withTextChunk(Buffer.concat(chunks), 'attnflow:labels', JSON.stringify(this.labels));
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Inserts a compressed text chunk (zTXt, UTF-8 safe as JSON) before IEND. */
export function withTextChunk(png: Buffer, key: string, value: string): Buffer {
  const data = Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0]), deflateSync(Buffer.from(value, 'utf8'))]);
  const type = Buffer.from('zTXt', 'latin1');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([type, data])));
  const iend = png.length - 12;
  return Buffer.concat([png.subarray(0, iend), len, type, data, crc, png.subarray(iend)]);
}
