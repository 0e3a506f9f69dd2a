// Just enough of the ZIP format for PyTorch's archives (torch.save since 1.6). Reading: find the
// end-of-central-directory record (ZIP64 too, for files over 4 GiB), list the entries, and
// give an entry's bytes (torch stores entries uncompressed; deflate is handled as well).
// Writing: stored entries, each entry's data aligned as torch.save aligns it.
import * as zlib from "zlib";

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

const EOCD = 0x06054b50,
  ZIP64_LOCATOR = 0x07064b50,
  ZIP64_EOCD = 0x06064b50,
  CENTRAL = 0x02014b50,
  LOCAL = 0x04034b50;

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
    const nameLen = bytes.readUInt16LE(p + 28),
      extraLen = bytes.readUInt16LE(p + 30),
      commentLen = bytes.readUInt16LE(p + 32);
    const name = bytes.toString("utf8", p + 46, p + 46 + nameLen);
    const e: ZipEntry = {
      name,
      method: bytes.readUInt16LE(p + 10),
      compressedSize: bytes.readUInt32LE(p + 20),
      size: bytes.readUInt32LE(p + 24),
      localHeader: bytes.readUInt32LE(p + 42),
    };
    // ZIP64 extra field: the 64-bit values of whichever fields hold 0xffffffff, in this order.
    for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
      const id = bytes.readUInt16LE(x),
        len = bytes.readUInt16LE(x + 2);
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
  if (h + 30 > bytes.length || bytes.readUInt32LE(h) !== LOCAL)
    throw new Error(`${file}: entry '${e.name}' has no local header at byte ${h} (damaged archive)`);
  const start = h + 30 + bytes.readUInt16LE(h + 26) + bytes.readUInt16LE(h + 28);
  if (start + e.compressedSize > bytes.length) throw new Error(`${file}: entry '${e.name}' runs past the end of the file (truncated?)`);
  const raw = bytes.subarray(start, start + e.compressedSize);
  if (e.method === 0) return raw;
  if (e.method === 8) return zlib.inflateRawSync(raw);
  throw new Error(`${file}: entry '${e.name}' uses zip compression method ${e.method}; only stored and deflate are read`);
}

/** A stored (uncompressed) archive of `entries`, each entry's data starting on a multiple of
 * `align` bytes, as torch.save aligns its tensors (the padding is an extra field of the local
 * header). Entries must stay under 4 GiB in all: no ZIP64 records are written. */
export function zipStored(entries: { name: string; data: Uint8Array }[], align = 64): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const crc = zlib.crc32(e.data);
    const pad = (align - ((offset + 30 + name.length + 4) % align)) % align;
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL, 0);
    local.writeUInt16LE(20, 4); // version needed
    local.writeUInt16LE(0, 6); // flags
    local.writeUInt16LE(0, 8); // stored
    local.writeUInt32LE(0, 10); // time, date
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(e.data.length, 18);
    local.writeUInt32LE(e.data.length, 22);
    local.writeUInt16LE(name.length, 26);
    local.writeUInt16LE(4 + pad, 28);
    const extra = Buffer.alloc(4 + pad);
    extra.writeUInt16LE(0x4246, 0); // "FB": torch's own padding field id
    extra.writeUInt16LE(pad, 2);
    parts.push(local, name, extra, Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength));
    const c = Buffer.alloc(46);
    c.writeUInt32LE(CENTRAL, 0);
    c.writeUInt16LE(20, 4); // version made by
    c.writeUInt16LE(20, 6); // version needed
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(e.data.length, 20);
    c.writeUInt32LE(e.data.length, 24);
    c.writeUInt16LE(name.length, 28);
    c.writeUInt32LE(offset, 42);
    central.push(c, name);
    offset += 30 + name.length + extra.length + e.data.length;
    if (offset > 0xffffffff) throw new Error(`zip: ${e.name} ends past 4 GiB; this writer does not write ZIP64 archives`);
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(EOCD, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  return Buffer.concat([...parts, cd, eocd]);
}
