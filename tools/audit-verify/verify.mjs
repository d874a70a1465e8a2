#!/usr/bin/env node
// verify.mjs: the offline verifier of an Osiris audit export, in JavaScript (Node 20, node:
// modules only). It checks what `osiris-audit verify` checks, written again from the
// specification in docs/audit.md ("Verifying the log offline") so that the leaf encoding is
// shown to be language-neutral: RFC 8785 (JCS) canonical JSON, RFC 6962 Merkle hashing, and
// C2SP signed notes with Ed25519.
//
//   node verify.mjs --export FILE --checkpoint FILE --key FILE
//   node verify.mjs --vectors services/audit/internal/leaf/testdata/vectors.json
//
// One verdict line, "OK: ..." (exit 0) or "FAIL: <first problem>" (exit 1); exit 2 for a
// usage error.

import { createHash, createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import process from 'node:process';

// The longest export line read, as in the Go verifier (verify.MaxLineBytes).
const MAX_LINE_BYTES = 256 * 1024 * 1024;

class Fail extends Error {}
class Usage extends Error {}

// short quotes at most 80 characters of an untrusted value for a verdict.
const short = (s) => (s.length > 80 ? `${s.slice(0, 80)}... (${s.length} characters)` : s);

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

// ---- JSON, parsed strictly, and JCS (RFC 8785) ----

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const numberRe = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

// parseJSON parses RFC 8259 JSON into Maps (objects, in input order), arrays, strings, numbers,
// booleans and null. It refuses duplicate keys, lone surrogates and numbers beyond a double:
// what RFC 8785 refuses to canonicalize.
function parseJSON(s) {
  let i = 0;
  const ws = () => { while (i < s.length && ' \t\n\r'.includes(s[i])) i++; };
  const bad = (what) => { throw new SyntaxError(what); };
  const string = () => {
    i++; // the opening quote
    let out = '';
    for (;;) {
      const j = i;
      while (i < s.length && s[i] !== '"' && s[i] !== '\\' && s.charCodeAt(i) >= 0x20) i++;
      out += s.slice(j, i);
      if (i >= s.length) bad('unterminated string');
      const c = s[i];
      if (c === '"') { i++; break; }
      if (c !== '\\') bad('control character in string');
      const e = s[i + 1];
      const simple = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }[e];
      if (simple !== undefined) { out += simple; i += 2; continue; }
      if (e !== 'u' || !/^[0-9a-fA-F]{4}$/.test(s.slice(i + 2, i + 6))) bad('invalid escape');
      out += String.fromCharCode(parseInt(s.slice(i + 2, i + 6), 16));
      i += 6;
    }
    if (loneSurrogate.test(out)) bad('lone surrogate in string');
    return out;
  };
  const value = (depth) => {
    ws();
    if (depth > 10000) bad('Maximum nesting depth of 10000 exceeded'); // as github.com/gowebpki/jcs
    const c = s[i];
    if (c === '{') {
      i++;
      const m = new Map();
      ws();
      if (s[i] === '}') { i++; return m; }
      for (;;) {
        ws();
        if (s[i] !== '"') bad('expected a key');
        const k = string();
        if (m.has(k)) bad(`Duplicate key: ${short(JSON.stringify(k))}`);
        ws();
        if (s[i] !== ':') bad("expected ':'");
        i++;
        m.set(k, value(depth + 1));
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === '}') { i++; return m; }
        bad("expected ',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      const a = [];
      ws();
      if (s[i] === ']') { i++; return a; }
      for (;;) {
        a.push(value(depth + 1));
        ws();
        if (s[i] === ',') { i++; continue; }
        if (s[i] === ']') { i++; return a; }
        bad("expected ',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const [lit, v] of [['true', true], ['false', false], ['null', null]]) {
      if (s.startsWith(lit, i)) { i += lit.length; return v; }
    }
    numberRe.lastIndex = i;
    const m = numberRe.exec(s);
    if (!m) bad('invalid value');
    i += m[0].length;
    const n = Number(m[0]);
    if (!Number.isFinite(n)) bad(`number ${m[0]} beyond a double`);
    return n;
  };
  const v = value(0);
  ws();
  if (i !== s.length) bad('more than one JSON value');
  return v;
}

// jcs serializes a parsed value as RFC 8785 says. ECMAScript's own Number-to-String is JCS's
// number format; JSON.stringify of a well-formed string is JCS's string escaping; and the
// default sort compares UTF-16 code units, which is JCS's key order.
function jcs(v) {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return '[' + v.map(jcs).join(',') + ']';
  const keys = [...v.keys()].sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + jcs(v.get(k))).join(',') + '}';
}

// leafHash is the RFC 6962 leaf hash of canonical JSON text.
const leafHash = (canonical) => sha256(Buffer.from([0]), Buffer.from(canonical, 'utf8'));

// ---- RFC 6962 Merkle tree root, folded one leaf at a time ----

class Tree {
  constructor() { this.stack = []; this.size = 0; } // perfect subtrees, largest first
  append(h) {
    let node = { h, n: 1 };
    while (this.stack.length && this.stack[this.stack.length - 1].n === node.n) {
      const left = this.stack.pop();
      node = { h: sha256(Buffer.from([1]), left.h, node.h), n: left.n * 2 };
    }
    this.stack.push(node);
    this.size++;
  }
  root() {
    if (!this.stack.length) return sha256();
    let h = this.stack[this.stack.length - 1].h;
    for (let k = this.stack.length - 2; k >= 0; k--) h = sha256(Buffer.from([1]), this.stack[k].h, h);
    return h;
  }
}

// ---- C2SP signed notes (golang.org/x/mod/sumdb/note) and checkpoints ----

const base64Re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const b64 = (s) => (base64Re.test(s) ? Buffer.from(s, 'base64') : null);
const validName = (name) => name !== '' && !/[\s+]/u.test(name);
const hex8 = (n) => n.toString(16).padStart(8, '0');

// noteKeyHash is the first 4 bytes of SHA-256(name || "\n" || 0x01 || public key), big-endian.
const noteKeyHash = (name, key) => sha256(Buffer.from(name + '\n', 'utf8'), key).readUInt32BE(0);

function parseVerifierKey(vkey) {
  const fail = (why) => { throw new Fail(`the key is not a note verifier key (name+hash+key): ${why}`); };
  const p1 = vkey.indexOf('+');
  const name = p1 < 0 ? vkey : vkey.slice(0, p1);
  const rest = p1 < 0 ? '' : vkey.slice(p1 + 1);
  const p2 = rest.indexOf('+');
  const hash16 = p2 < 0 ? rest : rest.slice(0, p2);
  const key = b64(p2 < 0 ? '' : rest.slice(p2 + 1));
  if (!/^[0-9a-fA-F]{8}$/.test(hash16) || !key || key.length === 0 || !validName(name)) fail('malformed verifier id');
  const hash = parseInt(hash16, 16);
  if (hash !== noteKeyHash(name, key)) fail('invalid verifier hash');
  if (key[0] !== 1) fail('unknown verifier algorithm');
  if (key.length !== 33) fail('malformed verifier id');
  const spki = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), key.subarray(1)]);
  return { name, hash, publicKey: createPublicKey({ key: spki, format: 'der', type: 'spki' }) };
}

// openNote checks msg as note.Open does, against one known key, and returns the note's text.
function openNote(msg, v) {
  const malformed = () => { throw new Fail('the checkpoint is not a signed note: malformed note'); };
  let s;
  try { s = utf8.decode(msg); } catch { malformed(); }
  if (/[\x00-\x09\x0b-\x1f]/.test(s)) malformed();
  const split = msg.lastIndexOf('\n\n');
  if (split < 0) malformed();
  const text = msg.subarray(0, split + 1);
  const sigs = msg.subarray(split + 2).toString('utf8');
  if (!sigs.length || !sigs.endsWith('\n')) malformed();
  const unverified = [];
  let verified = false;
  let count = 0;
  for (const line of sigs.slice(0, -1).split('\n')) {
    if (!line.startsWith('\u2014 ')) malformed();
    const body = line.slice(2);
    const sp = body.indexOf(' ');
    const name = sp < 0 ? body : body.slice(0, sp);
    const sigText = sp < 0 ? '' : body.slice(sp + 1);
    const sig = b64(sigText);
    if (!sig || !validName(name) || sigText === '' || sig.length < 5) malformed();
    if (++count > 100) malformed();
    const hash = sig.readUInt32BE(0);
    if (name !== v.name || hash !== v.hash) {
      unverified.push(`${name}+${hex8(hash)}`);
      continue;
    }
    if (verified) continue; // note.Open checks one signature per key and drops repeats
    let ok = false;
    try { ok = cryptoVerify(null, text, v.publicKey, sig.subarray(4)); } catch { ok = false; }
    if (!ok) throw new Fail(`the checkpoint's signature by key ${name}+${hex8(hash)} is invalid: its text was altered`);
    verified = true;
  }
  if (!verified) {
    throw new Fail(`the checkpoint is not signed by key ${v.name}+${hex8(v.hash)} (signed by ${[...new Set(unverified)].join(', ')})`);
  }
  return text.toString('utf8');
}

function openCheckpoint(msg, vkey) {
  const v = parseVerifierKey(vkey.trim());
  const lines = openNote(msg, v).split('\n');
  if (lines.length < 4) throw new Fail(`the checkpoint has ${lines.length - 1} lines of text, want origin, size and root hash`);
  if (lines[0] !== v.name) throw new Fail(`the checkpoint's origin ${JSON.stringify(lines[0])} is not its key's name ${JSON.stringify(v.name)}`);
  if (!/^(0|[1-9][0-9]*)$/.test(lines[1]) || Number(lines[1]) > Number.MAX_SAFE_INTEGER) {
    throw new Fail(`the checkpoint's size ${JSON.stringify(lines[1])} is not a decimal number`);
  }
  const root = b64(lines[2]);
  if (!root || root.length !== 32) throw new Fail(`the checkpoint's root hash ${JSON.stringify(lines[2])} is not 32 bytes in base64`);
  return { origin: lines[0], size: Number(lines[1]), root };
}

const describe = (cp) => `checkpoint ${cp.origin} size ${cp.size} root ${cp.root.toString('base64')}`;

// ---- The export ----

// exportLines yields each line of the file without its "\n" (a last line may lack one).
function* exportLines(path) {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(1 << 20);
    let parts = [];
    let len = 0;
    let n;
    while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) {
      let start = 0;
      for (;;) {
        let nl = buf.indexOf(10, start);
        if (nl >= n) nl = -1;
        const end = nl < 0 ? n : nl;
        len += end - start;
        if (len > MAX_LINE_BYTES) throw new RangeError(`longer than ${MAX_LINE_BYTES} bytes, the most a line may have`);
        if (nl < 0) { parts.push(Buffer.from(buf.subarray(start, n))); break; }
        parts.push(buf.subarray(start, nl));
        yield parts.length === 1 ? parts[0] : Buffer.concat(parts);
        parts = [];
        len = 0;
        start = nl + 1;
      }
    }
    if (len > 0) yield Buffer.concat(parts);
  } finally {
    closeSync(fd);
  }
}

// parseLine returns a line's seq, the hash it claims and the leaf hash of the rest of it.
function parseLine(bytes) {
  let s;
  try { s = utf8.decode(bytes); } catch { throw new Fail('not UTF-8'); }
  if (s.trim() === '') throw new Fail('empty line');
  if (s.replace(/^[ \t\n\r]+/, '')[0] !== '{') throw new Fail('not a JSON object');
  let obj;
  try { obj = parseJSON(s); } catch (e) {
    if (!(e instanceof SyntaxError || e instanceof RangeError)) throw e; // RangeError: the stack
    throw new Fail(`not JSON: ${e.message}`);
  }
  const hash = obj.get('hash');
  if (hash === undefined) throw new Fail('no "hash"');
  if (typeof hash !== 'string' || !/^[0-9a-fA-F]{64}$/.test(hash)) throw new Fail(`"hash" ${short(jcs(hash))} is not a hex SHA-256 hash`);
  const seq = obj.get('seq');
  if (seq === undefined) throw new Fail('no "seq"');
  // Any way of writing the number is fine (5.0 is 5): the leaf hash covers its canonical form.
  if (typeof seq !== 'number' || !Number.isInteger(seq) || seq < 1 || seq > Number.MAX_SAFE_INTEGER) {
    throw new Fail(`"seq" ${short(jcs(seq))} is not an integer from 1 to 2^53-1`);
  }
  obj.delete('hash');
  return { seq, claimed: Buffer.from(hash, 'hex'), computed: leafHash(jcs(obj)) };
}

function verifyExport(path, cp) {
  const tree = new Tree();
  let n = 0;
  const checkRoot = (root) => {
    if (!root.equals(cp.root)) {
      throw new Fail(`the root of events 1 to ${cp.size} is ${root.toString('base64')}, the checkpoint's is ${cp.root.toString('base64')}: ` +
        'an event was rewritten along with its hash, or the export is not of the log the checkpoint signed');
    }
  };
  if (cp.size === 0) checkRoot(tree.root());
  let lines;
  try { lines = exportLines(path); } catch (e) { throw new Fail(`cannot read the export: ${e.message}`); }
  for (;;) {
    let next;
    try { next = lines.next(); } catch (e) {
      if (e instanceof RangeError) throw new Fail(`line ${n + 1}: ${e.message}`);
      throw new Fail(`cannot read the export: ${e.message}`);
    }
    if (next.done) break;
    n++;
    let l;
    try { l = parseLine(next.value); } catch (e) {
      if (e instanceof Fail) throw new Fail(`line ${n}: ${e.message}`);
      throw e;
    }
    if (l.seq !== n) {
      throw new Fail(`line ${n}: seq ${l.seq} where ${n} belongs: events are missing, moved or repeated, ` +
        'or the export is filtered (only an export of the whole log, from seq 1, reproduces a root)');
    }
    if (!l.claimed.equals(l.computed)) throw new Fail(`line ${n} (seq ${n}): the event does not match its hash: the event or its hash was changed`);
    if (n > cp.size) continue;
    tree.append(l.computed);
    if (n === cp.size) checkRoot(tree.root());
  }
  if (n < cp.size) throw new Fail(`the export ends after ${n} events; the checkpoint covers ${cp.size}`);
  let verdict = `${cp.size} events reproduce the root of ${describe(cp)}`;
  if (n > cp.size) verdict += `; ${n - cp.size} more events are intact but after the checkpoint`;
  return verdict;
}

function readOrFail(path, what) {
  try { return readFileSync(path); } catch (e) { throw new Fail(`cannot read the ${what}: ${e.message}`); }
}

// verifyVectors checks the golden vectors: each leaf object canonicalizes to its canonical
// bytes, which are their own canonical form and hash to its leaf hash.
function verifyVectors(path) {
  const file = parseJSON(utf8.decode(readOrFail(path, 'vectors')));
  const vectors = file.get('vectors');
  vectors.forEach((v, k) => {
    const name = `vector ${k + 1} (${v.get('name')})`;
    const canonical = v.get('canonical');
    const got = jcs(v.get('leaf'));
    if (got !== canonical) throw new Fail(`${name}: the leaf canonicalizes to ${got}, want ${canonical}`);
    if (jcs(parseJSON(canonical)) !== canonical) throw new Fail(`${name}: the canonical bytes are not canonical`);
    const h = leafHash(canonical).toString('hex');
    if (h !== v.get('leaf_hash')) throw new Fail(`${name}: leaf hash ${h}, want ${v.get('leaf_hash')}`);
  });
  return `${vectors.length} vectors reproduce their canonical bytes and leaf hashes`;
}

function parseArgs(argv) {
  const opts = {};
  for (let k = 0; k < argv.length; k++) {
    const m = /^--?(export|checkpoint|key|vectors)(?:=(.*))?$/s.exec(argv[k]);
    if (!m) throw new Usage(`unknown argument ${argv[k]}`);
    let v = m[2];
    if (v === undefined) {
      if (k + 1 >= argv.length) throw new Usage(`${argv[k]} needs a value`);
      v = argv[++k];
    }
    if (v === '') throw new Usage(`${argv[k]} needs a value`);
    opts[m[1]] = v;
  }
  const n = Object.keys(opts).length;
  if (opts.vectors !== undefined ? n !== 1 : !(opts.export && opts.checkpoint && opts.key && n === 3)) {
    throw new Usage('want --export FILE --checkpoint FILE --key FILE, or --vectors FILE');
  }
  return opts;
}

function main(argv) {
  let opts;
  try { opts = parseArgs(argv); } catch (e) {
    process.stderr.write(`usage: node verify.mjs --export FILE --checkpoint FILE --key FILE\n       node verify.mjs --vectors FILE\n(${e.message})\n`);
    return 2;
  }
  try {
    let verdict;
    if (opts.vectors !== undefined) {
      verdict = verifyVectors(opts.vectors);
    } else {
      const key = readOrFail(opts.key, 'key').toString('utf8');
      const msg = readOrFail(opts.checkpoint, 'checkpoint');
      verdict = verifyExport(opts.export, openCheckpoint(msg, key));
    }
    process.stdout.write(`OK: ${verdict}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof Fail)) throw e;
    process.stdout.write(`FAIL: ${e.message}\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
