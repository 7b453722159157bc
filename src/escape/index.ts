/**
 * One escaper per target syntax. Every value from the stack that lands in a rendered file
 * goes through the escaper of that file's syntax on the way in (the schema's grammar is the
 * first line of defence, this is the second: a value that slipped through it still cannot
 * change the file's structure).
 *
 * Each escaper takes the value and its role (the config path or what it is, for the message)
 * and either returns a form the target's own parser reads back as exactly that value, or
 * throws an `EscapeError` naming the role and the value. None silently drops or rewrites a
 * character. Safe values come back unchanged (bare words stay bare), so ordinary stacks render
 * as before.
 *
 * Secret values are filled in on the host by the apply program (scripts/maglev-apply,
 * `ESCAPES`) with the same rules as `haproxyString`, `luaString`, `phpString`, `yamlScalar`
 * (double-quoted form) and `pdnsValue`; test/escape/escape.test.ts checks that both agree.
 *
 * One file (over 400 lines) on purpose: every escaper of every target syntax in one place, so an
 * audit of what reaches a rendered file reads one file (and the apply program mirrors it).
 */
import * as YAML from "yaml";
import * as ipaddr from "ipaddr.js";

export class EscapeError extends Error {
  constructor(
    readonly role: string,
    readonly value: string,
    reason: string,
  ) {
    // A role may name a hostile value itself (a host's name): its controls are shown escaped.
    super(
      `${role.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1))}: ${reason} (value: ${JSON.stringify(value)})`,
    );
    this.name = "EscapeError";
  }
}

function fail(role: string, value: string, reason: string): never {
  throw new EscapeError(role, value, reason);
}

/** Everything some parser takes as a line break: C0/C1 controls, DEL, U+2028/U+2029 (YAML 1.1, JavaScript). */
const LINE_BREAKING = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function wellFormed(role: string, v: string): void {
  if (typeof v !== "string") fail(role, String(v), "is not a string");
  // A lone surrogate has no UTF-8 form: the file would hold U+FFFD instead of the value.
  if (LONE_SURROGATE.test(v)) fail(role, v, "is not well-formed Unicode (lone surrogate)");
}

function noControls(role: string, v: string, where: string): void {
  wellFormed(role, v);
  const m = LINE_BREAKING.exec(v);
  if (m)
    fail(
      role,
      v,
      `control or line-break character U+${m[0].charCodeAt(0).toString(16).padStart(4, "0").toUpperCase()} cannot be written in ${where}`,
    );
}

/** Unicode noncharacters: systemd refuses a unit file holding one. */
const NONCHARACTER =
  /[\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]/;

function noNoncharacters(role: string, v: string, where: string): void {
  if (NONCHARACTER.test(v)) fail(role, v, `a Unicode noncharacter cannot be written in ${where}`);
}

function nonEmpty(role: string, v: string, where: string): void {
  if (v === "") fail(role, v, `an empty value cannot be written as ${where}`);
}

// ------------------------------------------------------------------------------ comments

/**
 * Text inside a line comment (`#`, `!`, `--`, `//`, `;` — whichever the file uses): a comment
 * ends at the line break, so no line break or control character. In PHP a `//` comment also
 * ends at `?>`.
 */
export function commentText(v: string, role: string, opts: { php?: boolean } = {}): string {
  noControls(role, v, "a comment");
  if (opts.php && v.includes("?>")) fail(role, v, "`?>` ends a PHP comment (and PHP mode)");
  return v;
}

// ------------------------------------------------------------------------------ shell

/**
 * One POSIX shell word (bash, dash), always single-quoted (`'` written as `'\''`): inside
 * '…' no character but `'` means anything. Any string but one holding NUL (which no argv or
 * variable can carry) round-trips.
 */
export function shellWord(v: string, role = "shell word"): string {
  wellFormed(role, v);
  if (v.includes("\0")) fail(role, v, "NUL cannot be passed in a shell word");
  return `'${v.replace(/'/g, `'\\''`)}'`;
}

// ------------------------------------------------------------------------------ Lua (dnsdist)

/**
 * A Lua "…" literal (dnsdist.conf). `\\`, `\"`, `\n`, `\r`; other control bytes as `\ddd`
 * (always three digits, so a following digit cannot join the escape). Non-ASCII is written
 * as its UTF-8 bytes, which Lua keeps as they are.
 */
export function luaString(v: string, role = "Lua string"): string {
  wellFormed(role, v);
  let out = '"';
  for (const c of v) {
    const n = c.codePointAt(0)!;
    if (c === "\\") out += "\\\\";
    else if (c === '"') out += '\\"';
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (n < 0x20 || n === 0x7f) out += "\\" + String(n).padStart(3, "0");
    else out += c;
  }
  return out + '"';
}

// ------------------------------------------------------------------------------ PHP

/**
 * A PHP '…' literal: only `\\` and `\'` are escapes there; every backslash is doubled so none
 * can combine with what follows. NUL is refused (PHP's lexer accepts it, but no reader of the
 * file should have to).
 */
export function phpString(v: string, role = "PHP string"): string {
  wellFormed(role, v);
  if (v.includes("\0")) fail(role, v, "NUL cannot be written inside a PHP single-quoted string");
  return `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

// ------------------------------------------------------------------------------ HAProxy

const HAPROXY_SAFE = /^[A-Za-z0-9_.:/@+%=,-]+$/;

/**
 * The inside of a HAProxy "…" argument: `\` escapes `\`, `"` and `$` (inside double quotes
 * `$NAME` / `${NAME}` expand environment variables). HAProxy has no escape a control
 * character could be written with, so those are refused.
 */
export function haproxyQuoted(v: string, role = "HAProxy string"): string {
  wellFormed(role, v);
  const m = LINE_BREAKING.exec(v);
  if (m)
    fail(
      role,
      v,
      "control or line-break characters cannot be written inside a HAProxy double-quoted string",
    );
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\$/g, "\\$");
}

/** A HAProxy "…" argument, quotes included. */
export function haproxyString(v: string, role = "HAProxy string"): string {
  return `"${haproxyQuoted(v, role)}"`;
}

/** One HAProxy argument: bare when nothing in it is special to HAProxy's line parser, else "…". */
export function haproxyWord(v: string, role = "HAProxy word"): string {
  nonEmpty(role, v, "a HAProxy argument");
  wellFormed(role, v);
  return HAPROXY_SAFE.test(v) ? v : haproxyString(v, role);
}

// ------------------------------------------------------------------------------ keepalived

/** Printable ASCII except what keepalived's parser gives a meaning (see keepalivedWord). */
const KEEPALIVED_SAFE = /^[\x21-\x7e]+$/;
const KEEPALIVED_SPECIAL = /[{}#!"'\\$]/;

/**
 * One keepalived argument. keepalived splits lines at white space, takes `{`/`}` as block
 * delimiters, `#` and `!` as comments, `"` as quoting, `$NAME` as a configuration variable
 * and `\` as an escape inside quotes — and the checkers' keywords (`path`, `name`) take the raw
 * token. So an argument is written bare and must contain none of them; anything else is
 * refused rather than quoted (quoting rules differ between keepalived versions).
 */
export function keepalivedWord(v: string, role = "keepalived argument"): string {
  nonEmpty(role, v, "a keepalived argument");
  wellFormed(role, v);
  if (!KEEPALIVED_SAFE.test(v))
    fail(role, v, "only printable ASCII without spaces can be written as a keepalived argument");
  const m = KEEPALIVED_SPECIAL.exec(v);
  if (m)
    fail(
      role,
      v,
      `\`${m[0]}\` has a meaning in keepalived.conf (block, comment, quote, variable or escape)`,
    );
  return v;
}

// ------------------------------------------------------------------------------ FRR

/**
 * One FRR command word (`hostname X`, a peer-group or route-map name): no white space, no
 * control character, and not starting with `!` or `#` (a comment). FRR takes the rest of the
 * word as it is.
 */
export function frrWord(v: string, role = "FRR word"): string {
  nonEmpty(role, v, "an FRR word");
  noControls(role, v, "frr.conf");
  if (/\s/.test(v)) fail(role, v, "white space splits an FRR word");
  if (/[!#]/.test(v)) fail(role, v, "`!` and `#` start comments in frr.conf");
  return v;
}

/**
 * Free text at the end of an FRR command (`description LINE`): FRR joins the words of the
 * line with single spaces, so leading, trailing and repeated white space would not read back;
 * a line break would start a new command; `!` and `#` start comments.
 */
export function frrText(v: string, role = "FRR text"): string {
  nonEmpty(role, v, "FRR text");
  noControls(role, v, "frr.conf");
  if (/[^\S ]/.test(v)) fail(role, v, "only plain spaces can separate words in FRR text");
  if (v !== v.trim() || v.includes("  "))
    fail(role, v, "leading, trailing or repeated spaces do not survive FRR's parser");
  if (/[!#]/.test(v)) fail(role, v, "`!` and `#` start comments in frr.conf");
  return v;
}

// ------------------------------------------------------------------------------ ExaBGP

/** An ExaBGP "…" value (`description "…"`): ExaBGP's tokenizer has no escapes inside quotes. */
export function exabgpString(v: string, role = "ExaBGP string"): string {
  noControls(role, v, "exabgp.conf");
  const m = /["'\\;{}]/.exec(v);
  if (m) fail(role, v, `\`${m[0]}\` cannot be written inside an ExaBGP quoted string`);
  return `"${v}"`;
}

// ------------------------------------------------------------------------------ YAML

/**
 * Written with the YAML 1.1 schema's quoting (which also quotes `yes`, `on`, `no`, dates, …),
 * and proven to read back the same under both 1.1 and 1.2: the readers on the hosts differ
 * (netplan's libyaml, k0s's Go YAML, PyYAML are 1.1-flavoured; the yaml package is 1.2).
 */
const YAML_WRITE = { lineWidth: 0, version: "1.1" } as const;

function readsBackAs(text: string, want: unknown): boolean {
  const w = JSON.stringify(want);
  return (["1.1", "1.2"] as const).every(
    (version) => JSON.stringify(YAML.parse(text, { version })) === w,
  );
}

/** Printable ASCII, no space at either end, not PyYAML's `=` (the 1.1 "value" type). */
const YAML_PLAIN_OK = (v: string) => /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(v) && v !== "=";
/** What the yaml package writes raw even inside "…" but YAML 1.1 readers take as a line break or drop. */
const YAML_RAW_UNSAFE = /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/;

/** Plain scalars the YAML 1.2 core schema reads as null, a boolean or a number. */
const YAML12_NOT_A_STRING =
  /^(?:|~|null|Null|NULL|true|True|TRUE|false|False|FALSE|[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/**
 * One YAML scalar on one line: the yaml package's own plain form when it writes one for a
 * printable-ASCII value (it quotes what YAML 1.1 or 1.2 would read as another type), else the
 * double-quoted form with every character a reader could take as a line break escaped.
 */
export function yamlScalar(v: string, role = "YAML scalar"): string {
  wellFormed(role, v);
  const own = YAML.stringify(v, { ...YAML_WRITE, blockQuote: false }).replace(/\n$/, "");
  const text = YAML_PLAIN_OK(v) && !own.includes("\n") ? own : yamlDoubleQuoted(v, role);
  if (!readsBackAs(text, v)) fail(role, v, "does not read back as the same YAML string");
  return text;
}

/**
 * A whole YAML document from plain data, written by the yaml package (which quotes every key
 * and scalar itself) and read back to prove it: what the host reads is the data given.
 * Strings beyond printable ASCII and newlines are written double-quoted (PyYAML and libyaml
 * refuse a tab or `=` plain); the few characters the package would write raw even then are
 * refused.
 */
export function yamlDocument(data: unknown, role = "YAML document"): string {
  const doc = new YAML.Document(data, { version: "1.1" });
  YAML.visit(doc, {
    Scalar(_key, node) {
      if (typeof node.value !== "string") return;
      wellFormed(role, node.value);
      // Printable ASCII, on one line or several (the package writes those as a `|` block): its own choice.
      // (A block the package itself would not read back — lines of only spaces — goes "…".)
      if (/^[\x20-\x7e\n]*$/.test(node.value) && node.value !== "=") {
        // Written with the 1.1 schema's quoting; what 1.2 alone reads as another type is quoted too.
        if (YAML12_NOT_A_STRING.test(node.value)) node.type = "QUOTE_DOUBLE";
        if (
          !node.value.includes("\n") ||
          readsBackAs(YAML.stringify({ s: node.value }, YAML_WRITE), { s: node.value })
        )
          return;
      }
      const m = YAML_RAW_UNSAFE.exec(node.value);
      if (m)
        fail(
          role,
          node.value,
          `U+${m[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")} would be a line break (or vanish) for a YAML 1.1 reader`,
        );
      node.type = "QUOTE_DOUBLE";
    },
  });
  const text = doc.toString({ lineWidth: 0 });
  // One read-back, as the hosts' (1.1) readers read it; the 1.2 reading of the scalars is settled above.
  if (JSON.stringify(YAML.parse(text, { version: "1.1" })) !== JSON.stringify(data))
    fail(role, text.slice(0, 200), "does not read back as the data it was written from");
  return text;
}

/**
 * A whole JSON document from plain data (two-space indent, one trailing newline). JSON.stringify
 * escapes every string itself; what it would drop or change (undefined, a function, NaN, a lone
 * surrogate written as U+FFFD by a UTF-8 writer) is refused, and the text is read back to prove
 * the reader gets exactly the data given.
 */
export function jsonDocument(data: unknown, role = "JSON document"): string {
  const wellFormedAt = (v: string, where: string) => {
    if (LONE_SURROGATE.test(v))
      fail(role, v, `${where}: is not well-formed Unicode (lone surrogate)`);
  };
  const visit = (v: unknown, where: string): void => {
    if (typeof v === "string") wellFormedAt(v, where);
    else if (typeof v === "number") {
      if (!Number.isFinite(v)) fail(role, String(v), `${where}: not a finite number`);
    } else if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${where}[${i}]`));
    else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v)) {
        wellFormedAt(k, `${where} key`);
        visit(x, `${where}.${k}`);
      }
    else if (v !== null && typeof v !== "boolean")
      fail(role, String(v), `${where}: ${typeof v} has no JSON form`);
  };
  visit(data, "$");
  const text = JSON.stringify(data, null, 2) + "\n";
  if (JSON.stringify(JSON.parse(text)) !== JSON.stringify(data))
    fail(role, text.slice(0, 200), "does not read back as the data it was written from");
  return text;
}

/** The double-quoted YAML form of a value (what the apply program writes for a secret inside "…"). */
export function yamlDoubleQuoted(v: string, role = "YAML string"): string {
  wellFormed(role, v);
  let out = '"';
  for (const c of v) {
    const n = c.codePointAt(0)!;
    if (c === "\\") out += "\\\\";
    else if (c === '"') out += '\\"';
    else if (n < 0x20 || n === 0x7f || (n >= 0x80 && n <= 0x9f))
      out += "\\x" + n.toString(16).toUpperCase().padStart(2, "0");
    // Line and paragraph separators are line breaks to libyaml, the BOM is dropped, U+FFFE/F unprintable.
    else if (n === 0x2028 || n === 0x2029 || n === 0xfeff || n === 0xfffe || n === 0xffff)
      out += "\\u" + n.toString(16).toUpperCase().padStart(4, "0");
    else out += c;
  }
  return out + '"';
}

// ------------------------------------------------------------------------------ nftables

/**
 * The inside of an nftables "…" string (an interface name in `iifname "…"`): nft has no
 * escapes in strings, and a trailing `*` makes the string a wildcard.
 */
export function nftString(
  v: string,
  role = "nftables string",
  opts: { ifname?: boolean } = {},
): string {
  nonEmpty(role, v, "an nftables string");
  // IFNAMSIZ: nft refuses a longer interface name.
  if (opts.ifname && Buffer.byteLength(v) > 15)
    fail(role, v, "an interface name has at most 15 bytes");
  wellFormed(role, v);
  if (!/^[\x20-\x7e]+$/.test(v))
    fail(role, v, "only printable ASCII can be written inside an nftables string");
  const m = /["\\]/.exec(v);
  if (m)
    fail(role, v, `\`${m[0]}\` cannot be written inside an nftables string (nft has no escapes)`);
  if (v.endsWith("*")) fail(role, v, "a trailing `*` would make the string an nftables wildcard");
  return `"${v}"`;
}

/**
 * An address or network in an nftables rule or set element (`ip saddr 10.1.7.0/24`): nft reads
 * a bare IPv4/IPv6 address or prefix; anything else (a name, a second element after a comma, a
 * `}`) would change the rule, so only what ipaddr.js parses as one address or prefix of the
 * expected family passes, written in its own canonical form.
 */
export function nftAddress(v: string, role = "nftables address", family?: "ipv4" | "ipv6"): string {
  wellFormed(role, v);
  const [addr, len, ...rest] = v.split("/");
  if (rest.length || !ipaddr.isValid(addr)) fail(role, v, "is not an IP address or prefix");
  // ipaddr.js also parses "1", "0x7f.1" and other historic IPv4 shorthands: nft does not.
  if (!ipaddr.IPv6.isValid(addr) && !ipaddr.IPv4.isValidFourPartDecimal(addr))
    fail(role, v, "is not an IP address or prefix");
  const kind = ipaddr.parse(addr).kind();
  if (family && kind !== family)
    fail(role, v, `is not an ${family === "ipv4" ? "IPv4" : "IPv6"} address`);
  if (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > (kind === "ipv4" ? 32 : 128)))
    fail(role, v, "has an invalid prefix length");
  return ipaddr.parse(addr).toString() + (len !== undefined ? `/${Number(len)}` : "");
}

/** An nftables identifier (table, chain, set name). */
export function nftIdentifier(v: string, role = "nftables identifier"): string {
  wellFormed(role, v);
  if (!/^[A-Za-z][A-Za-z0-9_]{0,254}$/.test(v))
    fail(role, v, "an nftables identifier is a letter followed by letters, digits and `_`");
  return v;
}

// ------------------------------------------------------------------------------ systemd units

/**
 * The value of a unit file assignment (`Description=…`, `Documentation=…`): `%` starts a
 * specifier (`%%` is a percent sign), a line break ends the assignment and a trailing `\`
 * continues it, and systemd strips leading and trailing white space.
 */
export function systemdValue(v: string, role = "systemd unit value"): string {
  nonEmpty(role, v, "a systemd unit value");
  noControls(role, v, "a systemd unit file");
  noNoncharacters(role, v, "a systemd unit file");
  if (v !== v.trim()) fail(role, v, "systemd strips leading and trailing white space");
  if (v.endsWith("\\")) fail(role, v, "a trailing `\\` continues the line in a unit file");
  return v.replace(/%/g, "%%");
}

const SYSTEMD_EXEC_SAFE = /^[A-Za-z0-9_@+=:,./-]+$/;

/**
 * One argument of `ExecStart=`: `%` → `%%` (specifiers), `$` → `$$` (environment
 * expansion); bare when nothing else in it is special, else "…" with `\\` and `\"`.
 */
export function systemdExecWord(v: string, role = "systemd command argument"): string {
  nonEmpty(role, v, "a command argument");
  noControls(role, v, "a systemd unit file");
  noNoncharacters(role, v, "a systemd unit file");
  const spec = v.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (SYSTEMD_EXEC_SAFE.test(v)) return spec;
  if (v.endsWith("\\")) fail(role, v, "a trailing `\\` continues the line in a unit file");
  return `"${spec.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

// ------------------------------------------------------------------------------ Prometheus

/**
 * A PromQL string literal, quotes included (a label matcher's value: `{group="mlb"}`). PromQL
 * reads "…" with Go's escapes; JSON's escapes (`\\`, `\"`, `\n`, `\uXXXX`) are a subset of
 * them, so JSON.stringify writes it. A lone surrogate has no Go form and is refused.
 */
export function promqlString(v: string, role = "PromQL string"): string {
  wellFormed(role, v);
  return JSON.stringify(v);
}

/**
 * A regular expression matching exactly `v` (PromQL's `=~` takes RE2, anchored): every
 * character RE2 gives a meaning is escaped with `\`. Write it with promqlString.
 */
export function re2Literal(v: string, role = "RE2 literal"): string {
  wellFormed(role, v);
  return v.replace(/[\\.+*?()|[\]{}^$]/g, (c) => `\\${c}`);
}

/**
 * Text of a Prometheus rule's label or annotation, which Prometheus expands as a Go template:
 * `{{` would start an action, so it is written as the action that prints it (`{{"{{"}}`).
 */
export function goTemplateText(v: string, role = "Go template text"): string {
  wellFormed(role, v);
  return v.split("{{").join(`{{"{{"}}`);
}

// ------------------------------------------------------------------------------ PowerDNS

/**
 * The value of a pdns.conf `key=value` line: no quoting at all, `#` starts a comment, a
 * trailing `\` continues the line, white space at either end is stripped.
 */
export function pdnsValue(v: string, role = "pdns.conf value"): string {
  noControls(role, v, "a pdns.conf line");
  if (v !== v.trim())
    fail(role, v, "leading or trailing white space is stripped from a pdns.conf value");
  if (v.includes("#")) fail(role, v, "`#` starts a comment in pdns.conf");
  if (v.endsWith("\\")) fail(role, v, "a trailing `\\` continues the line in pdns.conf");
  return v;
}

// ------------------------------------------------------------------------------ line-oriented files

/**
 * One word of a white-space separated line file (/etc/hosts, Apache directives, sysctl.d,
 * modules-load.d): no white space, no control character, no quote or backslash, and not
 * starting with a comment character.
 */
export function plainWord(v: string, role = "word"): string {
  nonEmpty(role, v, "a word");
  noControls(role, v, "a line-oriented file");
  const m = /[\s"'\\<>#;]/.exec(v);
  if (m)
    fail(role, v, `\`${m[0]}\` cannot be written in a plain word (separator, quote or comment)`);
  return v;
}

// ------------------------------------------------------------------------------ URLs

/**
 * One path segment of a URL (a PowerDNS zone id in `/zones/<id>`): percent-encoded
 * (encodeURIComponent: `/`, `?`, `#`, `%` and every non-ASCII byte), and never `.` or `..`,
 * which a URL parser would resolve to another path.
 */
export function urlPathSegment(v: string, role = "URL path segment"): string {
  nonEmpty(role, v, "a URL path segment");
  wellFormed(role, v);
  if (v === "." || v === "..")
    fail(role, v, "`.` and `..` are not path segments but moves in the path");
  return encodeURIComponent(v);
}

// ------------------------------------------------------------------------------ DNS presentation format

/** Characters written bare in a name of a zone file or an nsupdate script. */
const DNS_BARE = /^[A-Za-z0-9_-]$/;

/**
 * An absolute domain name in presentation format (RFC 1035 §5.1: zone files, nsupdate
 * scripts): the labels of `v` are split at `.` (a trailing `.` is allowed), each byte that is
 * not a letter, digit, `-` or `_` is written `\DDD` (its decimal value), so no space, `;`,
 * quote, `(`, `@`, `$` or `\` of the value can reach the line's parser. Refused: an empty
 * label, a label over 63 bytes, a name over 255 bytes on the wire.
 */
export function dnsName(v: string, role = "DNS name"): string {
  wellFormed(role, v);
  if (v === "" || v === ".") fail(role, v, "the root is not a name records can be written at");
  const labels = (v.endsWith(".") ? v.slice(0, -1) : v).split(".");
  let wire = 1;
  const out = labels.map((l) => {
    if (l === "") fail(role, v, "an empty label (two dots in a row, or a leading dot)");
    const bytes = Buffer.from(l, "utf8");
    if (bytes.length > 63) fail(role, v, `a label has ${bytes.length} bytes (at most 63)`);
    wire += bytes.length + 1;
    let s = "";
    for (const b of bytes) {
      const c = String.fromCharCode(b);
      s += b < 0x80 && DNS_BARE.test(c) ? c : `\\${String(b).padStart(3, "0")}`;
    }
    return s;
  });
  if (wire > 255) fail(role, v, `the name has ${wire} bytes on the wire (at most 255)`);
  return out.join(".") + ".";
}

/**
 * The address of an A or AAAA record in presentation format: only what parses as one address
 * of that family (dotted decimal for A, no zone index for AAAA), written in its canonical form.
 */
export function dnsAddress(v: string, type: "A" | "AAAA", role = "DNS address"): string {
  wellFormed(role, v);
  if (type === "A") {
    if (!ipaddr.IPv4.isValidFourPartDecimal(v))
      fail(role, v, "is not an IPv4 address in dotted decimal");
    return ipaddr.IPv4.parse(v).toString();
  }
  if (v.includes("%") || !ipaddr.IPv6.isValid(v) || ipaddr.IPv4.isValid(v))
    fail(role, v, "is not an IPv6 address");
  return ipaddr.IPv6.parse(v).toString();
}
