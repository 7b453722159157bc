/**
 * The escapers of src/escape, fed arbitrary strings (fast-check) and, where Debian's own
 * parser or checker is installed here, read back by it: an accepted value round-trips (or the
 * checker accepts the file and the escaped form holds nothing structural); anything else is
 * refused with an EscapeError naming the role — never a file of another structure.
 *
 * Checkers run once per batch of values (one file holding every value of a run), so each
 * property costs a handful of checker runs.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import fc from "fast-check";
import * as YAML from "yaml";
import * as E from "../../src/escape";
import { ROOT } from "../helpers";
import { installed } from "../tiers/golden-util";

const RUNS = 150;

/** Characters every syntax here gives some meaning, plus line breaks, controls and non-ASCII. */
const SPECIAL = [
  ..." \t\n\r\v\f\0\"'`\\$%#!;{}[]()<>|&*?~=,:@^-/.",
  "\u0085",
  "\u2028",
  "\u00e9",
  "\u00a0",
  "\u20ac",
  "\ud83d\ude00",
  "\ud800",
  "\udc00",
  "\u007f",
  "\u0001",
  "\u001b",
];
const char = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 4, arbitrary: fc.constantFrom(..."abcxyzAZ019") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);
const value = fc.string({ unit: char, maxLength: 24 });
const values = fc.array(value, { minLength: 1, maxLength: 40 });

/** Every temp dir the suite made, removed after it (they piled up in /tmp run after run). */
const made: string[] = [];
afterAll(() => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "escape-test-"));
  made.push(d);
  return d;
}

/** The escaped form, or "rejected" when the escaper throws — and then it must be an EscapeError naming the role. */
function tryEscape(f: (v: string, role: string) => string, v: string): string | undefined {
  try {
    return f(v, "the.role");
  } catch (e) {
    expect(e).toBeInstanceOf(E.EscapeError);
    expect((e as Error).message).toMatch(/^the\.role: .* \(value: /);
    return undefined;
  }
}

function accepted(
  f: (v: string, role: string) => string,
  vs: string[],
): { v: string; esc: string }[] {
  return vs.flatMap((v) => {
    const esc = tryEscape(f, v);
    return esc === undefined ? [] : [{ v, esc }];
  });
}

const hex = (s: string) => Buffer.from(s, "utf8").toString("hex");
const hasLoneSurrogate = (s: string) =>
  /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(s);
const maybe = (cmd: string) => (installed(cmd) ? test : test.skip);
/** The interpreter itself, not pyenv's shim (which costs a fraction of a second per start). */
const PYTHON = installed("python3")
  ? execFileSync("python3", ["-c", "import sys; print(sys.executable)"], {
      encoding: "utf8",
    }).trim()
  : "python3";

// ------------------------------------------------------------------------------ shell

describe("shellWord", () => {
  test("GIVEN any string WHEN quoted THEN it is accepted unless it holds NUL or a lone surrogate", () => {
    fc.assert(
      fc.property(value, (v) => {
        const esc = tryEscape(E.shellWord, v);
        expect(esc === undefined).toBe(v.includes("\0") || hasLoneSurrogate(v));
      }),
      { numRuns: RUNS * 3 },
    );
  });

  test.each(["bash", "dash"])(
    "GIVEN arbitrary strings WHEN quoted into a %s script THEN the script parses and prints each back exactly",
    (sh) => {
      const dir = tmp();
      fc.assert(
        fc.property(values, (vs) => {
          const ok = accepted(E.shellWord, vs);
          const script = path.join(dir, "s.sh");
          fs.writeFileSync(
            script,
            `printf '%s\\n' x${ok.map((o) => " " + o.esc).join("")} | od -An -v -tx1 | tr -d ' \\n'\n`,
          );
          expect(spawnSync(sh, ["-n", script]).status).toBe(0);
          const out = execFileSync(sh, [script], { encoding: "utf8" });
          expect(out).toBe(hex(["x", ...ok.map((o) => o.v)].join("\n") + "\n"));
        }),
        { numRuns: 40 },
      );
    },
  );
});

// ------------------------------------------------------------------------------ Lua (dnsdist)

describe("luaString", () => {
  maybe("dnsdist")(
    "GIVEN arbitrary strings WHEN written as Lua literals into a dnsdist config THEN dnsdist --check-config reads each back byte for byte",
    () => {
      const dir = tmp();
      const conf = path.join(dir, "dnsdist.conf");
      fc.assert(
        fc.property(values, (vs) => {
          const ok = accepted(E.luaString, vs);
          const lua = [
            'local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end',
            ...ok.map((o, i) => `print("V${i}:" .. hex(${o.esc}))`),
          ].join("\n");
          fs.writeFileSync(conf, lua + "\n");
          const out = execFileSync("dnsdist", ["--check-config", "-C", conf], { encoding: "utf8" });
          const got = out
            .split("\n")
            .filter((l) => /^V\d+:/.test(l))
            .map((l) => l.replace(/^V\d+:/, ""));
          expect(got).toEqual(ok.map((o) => hex(o.v)));
        }),
        { numRuns: 40 },
      );
    },
  );

  test("GIVEN a newline in a served zone THEN it stays inside the literal (no Lua statement of its own)", () => {
    expect(E.luaString('x"\nos.execute("id")--')).toBe('"x\\"\\nos.execute(\\"id\\")--"');
  });
});

// ------------------------------------------------------------------------------ PHP

/** PHP's own rule for '…': `\\` → `\`, `\'` → `'`, every other byte as it is. */
function phpDecode(lit: string): string {
  expect(lit.startsWith("'") && lit.endsWith("'")).toBe(true);
  const body = lit.slice(1, -1);
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === "'") throw new Error(`unescaped ' at ${i}: the literal would end there`);
    if (c === "\\" && (body[i + 1] === "\\" || body[i + 1] === "'")) out += body[++i];
    else out += c;
  }
  return out;
}

describe("phpString", () => {
  test("GIVEN any string WHEN quoted THEN PHP's single-quote rules read it back", () => {
    fc.assert(
      fc.property(value, (v) => {
        const esc = tryEscape(E.phpString, v);
        if (esc === undefined) expect(v.includes("\0") || hasLoneSurrogate(v)).toBe(true);
        else expect(phpDecode(esc)).toBe(v);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  maybe("php")(
    "GIVEN arbitrary strings WHEN written as PHP literals THEN php -l accepts the file and php echoes each back",
    () => {
      const dir = tmp();
      const file = path.join(dir, "c.php");
      fc.assert(
        fc.property(values, (vs) => {
          const ok = accepted(E.phpString, vs);
          fs.writeFileSync(
            file,
            `<?php\n${ok.map((o) => `echo bin2hex(${o.esc}), "\\n";`).join("\n")}\n`,
          );
          expect(spawnSync("php", ["-l", file]).status).toBe(0);
          expect(execFileSync("php", [file], { encoding: "utf8" })).toBe(
            ok.map((o) => hex(o.v) + "\n").join(""),
          );
        }),
        { numRuns: 20 },
      );
    },
  );
});

// ------------------------------------------------------------------------------ HAProxy

describe("haproxyString / haproxyWord", () => {
  maybe("haproxy")(
    'GIVEN arbitrary strings WHEN written as "…" arguments THEN haproxy -c reads each back exactly (its .notice directive prints the argument)',
    () => {
      const dir = tmp();
      const cfg = path.join(dir, "haproxy.cfg");
      fc.assert(
        fc.property(values, (vs) => {
          const ok = accepted(E.haproxyString, vs);
          // A leading "x": .notice refuses an empty message.
          fs.writeFileSync(
            cfg,
            ok.map((o) => `.notice "x${o.esc.slice(1)}`).join("\n") +
              "\ndefaults\n    mode tcp\nlisten l\n    bind 127.0.0.1:1\n",
          );
          const r = spawnSync("haproxy", ["-c", "-f", cfg], { encoding: "utf8" });
          expect(r.status).toBe(0);
          const got = r.stderr
            .split("\n")
            .map((l) => /parsing \[[^\]]*:\d+\]: 'x(.*)'\.$/.exec(l))
            .filter((m): m is RegExpExecArray => !!m)
            .map((m) => m[1]);
          expect(got).toEqual(ok.map((o) => o.v));
        }),
        { numRuns: 40 },
      );
    },
  );

  test('GIVEN any string THEN a word is bare only when it has nothing special, else the "…" form', () => {
    fc.assert(
      fc.property(value, (v) => {
        const w = tryEscape(E.haproxyWord, v);
        if (w === undefined) return;
        if (w.startsWith('"')) expect(w).toBe(E.haproxyString(v));
        else expect(w).toMatch(/^[A-Za-z0-9_.:/@+%=,-]+$/);
      }),
      { numRuns: RUNS },
    );
  });
});

// ------------------------------------------------------------------------------ keepalived

describe("keepalivedWord", () => {
  const STRUCTURAL = /[\s{}#!"'\\$]/;

  test("GIVEN any string THEN an accepted word holds nothing keepalived's parser gives a meaning", () => {
    fc.assert(
      fc.property(value, (v) => {
        const w = tryEscape(E.keepalivedWord, v);
        if (w !== undefined) {
          expect(w).toBe(v);
          expect(w).not.toMatch(STRUCTURAL);
          expect(w).toMatch(/^[\x21-\x7e]+$/);
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });

  maybe("keepalived")(
    "GIVEN arbitrary strings WHEN written as HTTP_GET paths THEN keepalived -t accepts the file",
    () => {
      const dir = tmp();
      const conf = path.join(dir, "keepalived.conf");
      // Arbitrary strings are mostly refused; printable ASCII gets most of them through.
      const ascii = fc.array(
        fc.string({
          unit: fc.constantFrom(..."/?=&%.-_~abcAZ09{}#!$\"' :@+,"),
          minLength: 1,
          maxLength: 20,
        }),
        { minLength: 1, maxLength: 40 },
      );
      fc.assert(
        fc.property(ascii, values, (a, b) => {
          const ok = accepted(E.keepalivedWord, [...a, ...b]);
          const rs = ok.map(
            (o, i) =>
              `    real_server 10.0.${i >> 8}.${(i & 255) + 1} {\n        HTTP_GET {\n            url {\n                path ${o.esc}\n                status_code 200\n            }\n        }\n    }`,
          );
          // One fixed real server: keepalived warns (exit 5) about a service without any.
          const fixed = "    real_server 10.1.0.1 {\n        TCP_CHECK {\n        }\n    }";
          fs.writeFileSync(
            conf,
            `virtual_server fwmark 1 {\n    lvs_sched mh\n    lvs_method DR\n${fixed}\n${rs.join("\n")}\n}\n`,
          );
          const r = spawnSync("keepalived", ["-t", "-f", conf], { encoding: "utf8" });
          expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({
            status: 0,
            out: expect.anything(),
          });
        }),
        { numRuns: 30 },
      );
    },
  );

  test("GIVEN the issue's MISC_CHECK injection through healthCheck.path THEN it is refused naming the role", () => {
    expect(() =>
      E.keepalivedWord(
        "/x\n}\n}\nMISC_CHECK {\nmisc_path /bin/sh\n}",
        "backendGroups.mlb.healthCheck.path",
      ),
    ).toThrow(/^backendGroups\.mlb\.healthCheck\.path: /);
    expect(() => E.keepalivedWord("/x}MISC_CHECK{misc_path", "p")).toThrow(/`}` has a meaning/);
  });
});

// ------------------------------------------------------------------------------ FRR

describe("frrText / frrWord", () => {
  test("GIVEN any string THEN accepted text is one line without comment characters or extra spaces", () => {
    fc.assert(
      fc.property(value, (v) => {
        const t = tryEscape(E.frrText, v);
        if (t !== undefined) {
          expect(t).toBe(v);
          expect(t).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029!#]|^ | $|  /);
        }
        const w = tryEscape(E.frrWord, v);
        if (w !== undefined) expect(w).not.toMatch(/\s|[!#]/);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  maybe("vtysh")(
    "GIVEN arbitrary strings WHEN written as neighbour descriptions THEN vtysh --dryrun accepts the file",
    () => {
      const dir = tmp();
      const conf = path.join(dir, "frr.conf");
      fc.assert(
        fc.property(values, (vs) => {
          const ok = accepted(E.frrText, vs);
          const L = ["router bgp 65000"];
          ok.forEach((o, i) =>
            L.push(
              ` neighbor 192.0.2.${i + 1} remote-as internal`,
              ` neighbor 192.0.2.${i + 1} description ${o.esc}`,
            ),
          );
          fs.writeFileSync(conf, L.join("\n") + "\nexit\n");
          const r = spawnSync("vtysh", ["--dryrun", "-f", conf], { encoding: "utf8" });
          expect({ status: r.status, out: r.stdout + r.stderr }).toEqual({ status: 0, out: "" });
        }),
        { numRuns: 30 },
      );
    },
  );

  test("GIVEN the issue's upstream name with a newline THEN it is refused (no second neighbour in frr.conf)", () => {
    expect(() =>
      E.frrText("r1 (upstream)\n neighbor 203.0.113.9 remote-as 666", "bgp.upstream[0].name"),
    ).toThrow(/^bgp\.upstream\[0\]\.name: control or line-break/);
  });
});

// ------------------------------------------------------------------------------ YAML

describe("yamlScalar / yamlDocument", () => {
  test("GIVEN any well-formed string THEN the scalar is one line that the yaml package reads back under YAML 1.1 and 1.2", () => {
    fc.assert(
      fc.property(value, (v) => {
        const s = tryEscape(E.yamlScalar, v);
        if (s === undefined) return expect(hasLoneSurrogate(v)).toBe(true);
        expect(s).not.toContain("\n");
        expect(YAML.parse(s, { version: "1.1" })).toBe(v);
        expect(YAML.parse(s)).toBe(v);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  maybe("python3")(
    "GIVEN arbitrary strings WHEN written as YAML scalars and documents THEN PyYAML (a YAML 1.1 reader) reads each back",
    () => {
      // Python starts slowly: every sampled batch is written first, then read in one run.
      const dir = tmp();
      const batches = fc.sample(values, { numRuns: 40, seed: 15 });
      const want: unknown[] = [];
      const files: string[] = [];
      batches.forEach((vs, b) => {
        const ok = accepted(E.yamlScalar, vs);
        // Multi-line values too: the package writes those as `|` blocks.
        const doc = Object.fromEntries(
          ok.map((o, i) => [`k${i}${o.v}`, { v: o.v, lines: `${o.v}\n${o.v}\n` }]),
        );
        const list = path.join(dir, `list-${b}.yaml`);
        fs.writeFileSync(list, ok.map((o) => `- ${o.esc}`).join("\n") + "\n");
        files.push(list);
        want.push(ok.length ? ok.map((o) => o.v) : null);
        const text = tryEscape((_v, role) => E.yamlDocument(doc, role), "");
        if (text === undefined)
          expect(ok.some((o) => /[\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]/.test(o.v))).toBe(
            true,
          );
        else {
          const f = path.join(dir, `doc-${b}.yaml`);
          // The yaml package (YAML 1.2) reads it back too; PyYAML (1.1) below.
          expect(YAML.parse(text)).toEqual(doc);
          fs.writeFileSync(f, text);
          files.push(f);
          want.push(Object.keys(doc).length ? doc : null);
        }
      });
      const py =
        "import json,sys,yaml\nprint(json.dumps([yaml.safe_load(open(f, encoding='utf-8')) for f in sys.argv[1:]], ensure_ascii=True))";
      const got = JSON.parse(execFileSync(PYTHON, ["-c", py, ...files], { encoding: "utf8" }));
      got.forEach((g: unknown, i: number) =>
        expect({ file: files[i], value: g }).toEqual({ file: files[i], value: want[i] }),
      );
    },
  );
});

describe("jsonDocument", () => {
  maybe("python3")(
    "GIVEN arbitrary strings as keys and values WHEN written as a JSON document THEN Python's json module reads back exactly the data; a lone surrogate or a non-finite number is refused",
    () => {
      const dir = tmp();
      const batches = fc.sample(values, { numRuns: 40, seed: 16 });
      const files: string[] = [];
      const want: unknown[] = [];
      batches.forEach((vs, b) => {
        const doc = {
          list: vs,
          map: Object.fromEntries(vs.map((v, i) => [`${v}${i}`, { v, n: i }])),
        };
        const text = tryEscape((_v, role) => E.jsonDocument(doc, role), "");
        if (text === undefined) return expect(vs.some(hasLoneSurrogate)).toBe(true);
        const f = path.join(dir, `doc-${b}.json`);
        fs.writeFileSync(f, text);
        files.push(f);
        want.push(doc);
      });
      const py =
        "import json,sys\nprint(json.dumps([json.load(open(f, encoding='utf-8')) for f in sys.argv[1:]], ensure_ascii=True))";
      const got = JSON.parse(execFileSync(PYTHON, ["-c", py, ...files], { encoding: "utf8" }));
      expect(got).toEqual(want);
      expect(() => E.jsonDocument({ n: NaN }, "the.role")).toThrow(E.EscapeError);
      expect(() => E.jsonDocument({ f: undefined }, "the.role")).toThrow(E.EscapeError);
    },
  );
});

// ------------------------------------------------------------------------------ nftables

describe("nftString", () => {
  const canNft = installed("nft") && spawnSync("unshare", ["-n", "true"]).status === 0;
  (canNft ? test : test.skip)(
    "GIVEN arbitrary strings WHEN written as iifname strings THEN nft loads the table in a scratch namespace and lists each name back",
    () => {
      const dir = tmp();
      const file = path.join(dir, "t.nft");
      fc.assert(
        fc.property(values, (vs) => {
          const ok = accepted((v, r) => E.nftString(v, r, { ifname: true }), vs);
          const rules = ok.map((o) => `\t\tiifname ${o.esc} accept`);
          fs.writeFileSync(
            file,
            `table inet escape_test {\n\tchain c {\n${rules.join("\n")}\n\t}\n}\n`,
          );
          const r = spawnSync(
            "unshare",
            ["-n", "sh", "-c", `nft -f ${file} && nft list table inet escape_test`],
            { encoding: "utf8" },
          );
          expect(r.stderr).toBe("");
          const got = [...r.stdout.matchAll(/iifname "(.*)" accept/g)].map((m) => m[1]);
          expect(got).toEqual(ok.map((o) => o.v));
        }),
        { numRuns: 30 },
      );
    },
  );

  test("THEN quotes, backslashes, controls, a trailing wildcard and over-long interface names are refused", () => {
    for (const v of ['a"b', "a\\b", "a\nb", "cali*", ""])
      expect(() => E.nftString(v, "networks.ingress.interface")).toThrow(
        /^networks\.ingress\.interface: /,
      );
    expect(() => E.nftString("sixteen-chars-xx", "if", { ifname: true })).toThrow(/15 bytes/);
  });
});

// ------------------------------------------------------------------------------ systemd

/** systemd's reading of one ExecStart argument: "…" with \\ and \", then %% → %, $$ → $. */
function systemdExecDecode(w: string): string {
  let s = w;
  if (w.startsWith('"')) {
    expect(w.endsWith('"')).toBe(true);
    s = w.slice(1, -1).replace(/\\(.)/g, "$1");
  } else expect(w).not.toMatch(/[\s"'\\;]/);
  return s.replace(/%%/g, "\0").replace(/\$\$/g, "$").replace(/\0/g, "%");
}

describe("systemdValue / systemdExecWord", () => {
  test("GIVEN any string THEN an accepted value is one line with every % doubled, and an argument decodes back", () => {
    fc.assert(
      fc.property(value, (v) => {
        const s = tryEscape(E.systemdValue, v);
        if (s !== undefined) {
          expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\\$/);
          expect(s.replace(/%%/g, "%")).toBe(v);
        }
        const w = tryEscape(E.systemdExecWord, v);
        if (w !== undefined) expect(systemdExecDecode(w)).toBe(v);
      }),
      { numRuns: RUNS * 3 },
    );
  });

  maybe("systemd-analyze")(
    "GIVEN arbitrary strings WHEN written as a Description and ExecStart arguments THEN systemd-analyze verify has nothing to say",
    () => {
      const dir = tmp();
      fc.assert(
        fc.property(values, (vs) => {
          const desc = accepted(E.systemdValue, vs);
          const args = accepted(E.systemdExecWord, vs);
          const units = desc.slice(0, 8).map((d, i) => {
            const name = `escape-test-${i}.service`;
            fs.writeFileSync(
              path.join(dir, name),
              `[Unit]\nDescription=${d.esc}\n\n[Service]\nType=oneshot\nExecStart=/bin/true${args.map((a) => " " + a.esc).join("")}\n`,
            );
            return `./${name}`;
          });
          if (!units.length) return;
          const r = spawnSync("systemd-analyze", ["verify", "--man=no", ...units], {
            cwd: dir,
            encoding: "utf8",
          });
          expect(r.stdout + r.stderr).toBe("");
          for (const u of units) fs.rmSync(path.join(dir, u));
        }),
        { numRuns: 15 },
      );
    },
  );
});

// ------------------------------------------------------------------------------ PowerDNS

describe("pdnsValue", () => {
  maybe("pdns_server")(
    "GIVEN arbitrary strings WHEN written as a pdns.conf value THEN pdns_server reads each back (its current configuration)",
    () => {
      const dir = tmp();
      fc.assert(
        fc.property(value, (v) => {
          const esc = tryEscape(E.pdnsValue, v);
          if (esc === undefined || esc === "") return;
          fs.writeFileSync(path.join(dir, "pdns.conf"), `version-string=${esc}\nlaunch=\n`);
          const out = execFileSync("pdns_server", [`--config-dir=${dir}`, "--config=current"], {
            encoding: "utf8",
          });
          expect(out.split("\n").find((l) => l.startsWith("version-string="))).toBe(
            `version-string=${v}`,
          );
        }),
        { numRuns: 60 },
      );
    },
  );

  test("THEN what pdns would cut or join is refused", () => {
    for (const v of ["key # comment", "key\\", " key", "key\nlaunch=bind"])
      expect(() => E.pdnsValue(v, "api-key")).toThrow(/^api-key: /);
  });
});

// ------------------------------------------------------------------------------ comments

describe("commentText", () => {
  test("GIVEN any string THEN accepted comment text never ends the comment", () => {
    fc.assert(
      fc.property(value, (v) => {
        const c = tryEscape((x, r) => E.commentText(x, r, { php: true }), v);
        if (c !== undefined) expect(c).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]|\?>/);
      }),
      { numRuns: RUNS * 3 },
    );
  });
});

// ------------------------------------------------------------------------------ the host side

/**
 * Secrets are filled in on the host by scripts/maglev-apply: where both accept a value, its
 * escapes must write exactly what the escapers here write for the same syntax.
 */
describe("the apply program's secret escapes agree with src/escape", () => {
  maybe("python3")(
    "GIVEN arbitrary strings THEN every value src/escape accepts is written identically by scripts/maglev-apply",
    () => {
      const ours: Record<string, (v: string) => string> = {
        "haproxy-dq": (v) => E.haproxyQuoted(v, "s"),
        "lua-dq": (v) => E.luaString(v, "s").slice(1, -1),
        "php-sq": (v) => E.phpString(v, "s").slice(1, -1),
        "yaml-dq": (v) => E.yamlDoubleQuoted(v, "s").slice(1, -1),
        line: (v) => E.pdnsValue(v, "s"),
      };
      const dir = tmp();
      const input = path.join(dir, "in.json");
      const py = [
        "import importlib.machinery, importlib.util, json, sys",
        `loader = importlib.machinery.SourceFileLoader("maglev_apply", ${JSON.stringify(path.join(ROOT, "scripts/maglev-apply"))})`,
        "spec = importlib.util.spec_from_loader(loader.name, loader); m = importlib.util.module_from_spec(spec); loader.exec_module(m)",
        "out = []",
        "for syntax, v in json.load(open(sys.argv[1], encoding='utf-8')):",
        "    try: out.append(m.ESCAPES[syntax](v))",
        "    except m.Rejected: out.append(None)",
        "print(json.dumps(out))",
      ].join("\n");
      // One Python run for every sampled value (Python starts slowly).
      const vs = fc.sample(
        value.filter((v) => !hasLoneSurrogate(v)),
        { numRuns: 2000, seed: 7 },
      );
      const cases: [string, string, string][] = [];
      for (const [syntax, f] of Object.entries(ours))
        for (const v of vs) {
          try {
            cases.push([syntax, v, f(v)]);
          } catch {
            /* refused here: the host never gets it from a render, nothing to compare */
          }
        }
      fs.writeFileSync(input, JSON.stringify(cases.map(([s, v]) => [s, v])));
      const theirs: (string | null)[] = JSON.parse(
        execFileSync(PYTHON, ["-c", py, input], { encoding: "utf8" }),
      );
      const disagree = cases.flatMap(([syntax, v, w], i) =>
        theirs[i] === w ? [] : [{ syntax, v, ours: w, theirs: theirs[i] }],
      );
      expect(disagree.slice(0, 5)).toEqual([]);
    },
  );
});

describe("nftAddress", () => {
  test("GIVEN addresses and prefixes of both families THEN they come back in canonical form", () => {
    expect(E.nftAddress("10.1.7.4", "a")).toBe("10.1.7.4");
    expect(E.nftAddress("2a0a:7180:81:7:0:0:0:10", "a")).toBe("2a0a:7180:81:7::10");
    expect(E.nftAddress("10.1.7.0/24", "a", "ipv4")).toBe("10.1.7.0/24");
  });
  test("GIVEN anything that is not one address or prefix THEN it is refused naming the role", () => {
    for (const v of [
      "10.1.7.4, 0.0.0.0/0",
      "10.1.7.4 }",
      "host.example",
      "1",
      "10.1.7.0/33",
      "10.1.7.0/24/1",
      "",
    ])
      expect(() => E.nftAddress(v, "bgp.upstream[0].ipv4")).toThrow(/^bgp\.upstream\[0\]\.ipv4: /);
    expect(() => E.nftAddress("10.1.7.4", "vip", "ipv6")).toThrow(/not an IPv6 address/);
  });
});
