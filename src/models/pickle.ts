// A restricted unpickler: the opcodes a PyTorch state dict needs, and nothing that runs code.
// Python's pickle is a small stack machine; its only way to reach code is to name a global
// (GLOBAL / STACK_GLOBAL) and call it (REDUCE / NEWOBJ / BUILD). Here a global is only ever a
// name: one outside `allowed` stops the load before anything else happens, and the allowed
// ones are interpreted by `call`, never imported or executed.

/** A global the pickle asked for, e.g. collections.OrderedDict. */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A Python dict (OrderedDict too): keys in insertion order; `attrs` holds BUILD's state. */
export class PyDict {
  readonly map = new Map<unknown, unknown>();
  attrs?: unknown;
}

/** A Python tuple (lists are plain arrays). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}

export interface UnpickleOptions {
  /** Globals the pickle may name, as "module.name". */
  allowed: ReadonlySet<string>;
  /** REDUCE / NEWOBJ on an allowed global. */
  call: (fn: PyGlobal, args: unknown[]) => unknown;
  /** BINPERSID: the object a persistent id stands for (torch: a storage). */
  persistentLoad?: (pid: unknown) => unknown;
  /** For messages: the file being read. */
  file: string;
}

const MARK = Symbol("mark");

/** Unpickle one object starting at `offset`; returns it and the offset just past STOP. */
export function unpickle(bytes: Buffer, opts: UnpickleOptions, offset = 0): { value: unknown; end: number } {
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = offset;
  const bad = (msg: string) => new Error(`${opts.file}: cannot read this pickle: ${msg} (byte ${p})`);
  const need = (n: number) => {
    if (p + n > bytes.length) throw bad("it ends early (truncated?)");
    const at = p;
    p += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u16 = () => bytes.readUInt16LE(need(2));
  const u32 = () => bytes.readUInt32LE(need(4));
  const u64 = () => Number(bytes.readBigUInt64LE(need(8)));
  const take = (n: number) => bytes.subarray(need(n), p);
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw bad("a text field has no end");
    const s = bytes.toString("latin1", p, end);
    p = end + 1;
    return s;
  };
  const pop = () => {
    if (!stack.length) throw bad("stack underflow");
    return stack.pop();
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw bad("no MARK on the stack");
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = () => stack[stack.length - 1];
  const global = (module: string, name: string) => {
    const g = new PyGlobal(module, name);
    if (!opts.allowed.has(g.qualified))
      throw new Error(
        `refusing to load ${opts.file}: it asks for ${g.qualified}, which is not a tensor or a state dict (only ${[...opts.allowed].length} torch and collections names are allowed; nothing was run)`,
      );
    return g;
  };
  const callable = (fn: unknown) => {
    if (!(fn instanceof PyGlobal)) throw bad("a call on something that is not a global");
    return fn;
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof PyDict)) throw bad("SETITEM(S) on something that is not a dict");
    for (let i = 0; i + 1 < kv.length; i += 2) d.map.set(kv[i], kv[i + 1]);
  };
  const appendItems = (l: unknown, items: unknown[]) => {
    if (!Array.isArray(l)) throw bad("APPEND(S) on something that is not a list");
    l.push(...items);
  };
  const signedLE = (b: Buffer): number | bigint => {
    if (!b.length) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        need(8);
        break; // FRAME: a length hint only
      case 0x2e:
        return { value: pop(), end: p }; // STOP
      case 0x28:
        stack.push(MARK);
        break; // MARK
      case 0x7d:
        stack.push(new PyDict());
        break; // EMPTY_DICT
      case 0x64: {
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      } // DICT
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x6c:
        stack.push(popMark());
        break; // LIST
      case 0x29:
        stack.push(new PyTuple([]));
        break; // EMPTY_TUPLE
      case 0x74:
        stack.push(new PyTuple(popMark()));
        break; // TUPLE
      case 0x85:
        stack.push(new PyTuple([pop()]));
        break; // TUPLE1
      case 0x86: {
        const b = pop(),
          a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      } // TUPLE2
      case 0x87: {
        const c = pop(),
          b = pop(),
          a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      } // TUPLE3
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4a:
        stack.push(bytes.readInt32LE(need(4)));
        break; // BININT
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(u16());
        break; // BININT2
      case 0x8a:
        stack.push(signedLE(take(u8())));
        break; // LONG1
      case 0x8b:
        stack.push(signedLE(take(u32())));
        break; // LONG4
      case 0x47:
        stack.push(bytes.readDoubleBE(need(8)));
        break; // BINFLOAT
      case 0x58:
        stack.push(take(u32()).toString("utf8"));
        break; // BINUNICODE
      case 0x8c:
        stack.push(take(u8()).toString("utf8"));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(take(u64()).toString("utf8"));
        break; // BINUNICODE8
      case 0x54:
        stack.push(take(u32()).toString("latin1"));
        break; // BINSTRING (Python 2 str)
      case 0x55:
        stack.push(take(u8()).toString("latin1"));
        break; // SHORT_BINSTRING
      case 0x42:
        stack.push(Buffer.from(take(u32())));
        break; // BINBYTES
      case 0x43:
        stack.push(Buffer.from(take(u8())));
        break; // SHORT_BINBYTES
      case 0x8e:
        stack.push(Buffer.from(take(u64())));
        break; // BINBYTES8
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
      case 0x6a: {
        // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw bad(`memo entry ${k} was never stored`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30:
        pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      case 0x63: {
        const module = line();
        stack.push(global(module, line()));
        break;
      } // GLOBAL
      case 0x93: {
        // STACK_GLOBAL
        const name = pop(),
          module = pop();
        if (typeof module !== "string" || typeof name !== "string") throw bad("STACK_GLOBAL without two names");
        stack.push(global(module, name));
        break;
      }
      case 0x52: {
        const args = pop(),
          fn = callable(pop());
        stack.push(opts.call(fn, args instanceof PyTuple ? args.items : []));
        break;
      } // REDUCE
      case 0x81: {
        const args = pop(),
          cls = callable(pop());
        stack.push(opts.call(cls, args instanceof PyTuple ? args.items : []));
        break;
      } // NEWOBJ
      case 0x62: {
        // BUILD: state for the object below; a dict keeps it aside, anything else ignores it
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.attrs = state;
        break;
      }
      case 0x51: {
        // BINPERSID
        if (!opts.persistentLoad) throw bad("a persistent id in a pickle that should have none");
        stack.push(opts.persistentLoad(pop()));
        break;
      }
      case 0x73: {
        const v = pop(),
          k = pop();
        setItems(top(), [k, v]);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x61: {
        const v = pop();
        appendItems(top(), [v]);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        appendItems(top(), items);
        break;
      } // APPENDS
      default:
        throw bad(`opcode 0x${op.toString(16).padStart(2, "0")} is not one a state dict uses`);
    }
  }
}
