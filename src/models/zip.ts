// Just enough of the ZIP format to read PyTorch's archives (torch.save since 1.6): find the
// end-of-central-directory record (ZIP64 too, for files over 4 GiB), list the entries, and
// give an entry's bytes. torch stores entries uncompressed; deflate is handled as well.
import * as zlib from "zlib";

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

const EOCD = 0x06054b50, ZIP64_LOCATOR = 0x07064b50, ZIP64_EOCD = 0x06064b50, CENTRAL = 0x02014b50, LOCAL = 0x04034b50;

export const isZip = (bytes: Buffer) => bytes.length >= 4 && bytes.readUInt32LE(0) === LOCAL;

/** The archive's entries by name; every structural problem names the file. */
export function zipEntries(bytes: Buffer, file: string): Map<string, ZipEntry> {
  const bad = (msg: string) => new Error(`${file}: not a readable zip archive: ${msg}`);
  // The EOCD record is the last 22 bytes plus a comment of up to 64 KiB.
  let eocd = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 22 - 0xffff); i--) {
    if (bytes.readUInt32LE(i) === EOCD) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw bad("no end-of-central-directory record (truncated?)");
  let count = bytes.readUInt16LE(eocd + 10);
  let dirOffset = bytes.readUInt32LE(eocd + 16);
  if ((count === 0xffff || dirOffset === 0xffffffff) && eocd >= 20 && bytes.readUInt32LE(eocd - 20) === ZIP64_LOCATOR) {
    const z = Number(bytes.readBigUInt64LE(eocd - 12));
    if (z + 56 > bytes.length || bytes.readUInt32LE(z) !== ZIP64_EOCD) throw bad("ZIP64 record out of place");
    count = Number(bytes.readBigUInt64LE(z + 32));
    dirOffset = Number(bytes.readBigUInt64LE(z + 48));
  }
  const entries = new Map<string, ZipEntry>();
  let p = dirOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || bytes.readUInt32LE(p) !== CENTRAL) throw bad(`central directory entry ${i} of ${count} is damaged`);
    const nameLen = bytes.readUInt16LE(p + 28), extraLen = bytes.readUInt16LE(p + 30), commentLen = bytes.readUInt16LE(p + 32);
    const name = bytes.toString("utf8", p + 46, p + 46 + nameLen);
    const e: ZipEntry = { name, method: bytes.readUInt16LE(p + 10), compressedSize: bytes.readUInt32LE(p + 20), size: bytes.readUInt32LE(p + 24), localHeader: bytes.readUInt32LE(p + 42) };
    // ZIP64 extra field: the 64-bit values of whichever fields hold 0xffffffff, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = bytes.readUInt16LE(x), len = bytes.readUInt16LE(x + 2);
      if (id === 0x0001) {
        let q = x + 4;
        for (const field of ["size", "compressedSize", "localHeader"] as const) {
          if (e[field] === 0xffffffff) {
            e[field] = Number(bytes.readBigUInt64LE(q));
            q += 8;
          }
        }
      }
      x += 4 + len;
    }
    entries.set(name, e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** An entry's uncompressed bytes (a view into `bytes` when it is stored). */
export function zipRead(bytes: Buffer, e: ZipEntry, file: string): Buffer {
  const h = e.localHeader;
  if (h + 30 > bytes.length || bytes.readUInt32LE(h) !== LOCAL) throw new Error(`${file}: entry '${e.name}' has no local header at byte ${h} (damaged archive)`);
  const start = h + 30 + bytes.readUInt16LE(h + 26) + bytes.readUInt16LE(h + 28);
  if (start + e.compressedSize > bytes.length) throw new Error(`${file}: entry '${e.name}' runs past the end of the file (truncated?)`);
  const raw = bytes.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) return zlib.inflateRawSync(raw);
  throw new Error(`${file}: entry '${e.name}' uses zip compression method ${e.method}; only stored and deflate are read`);
}
