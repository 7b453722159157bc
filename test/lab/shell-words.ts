/**
 * The programs a shell script runs: the first word of every simple command (after
 * assignments, keywords, redirections and wrappers such as `exec`, `sudo`, `setsid`, `nice`,
 * `timeout`, `unshare`, `setpriv`, `env`, `xargs`), including those inside `$(…)`, `` `…` ``,
 * `<(…)` and `sh -c '…'`. Small and explicit, not a full shell parser: words that are
 * expansions (`$x`, `"$@"`) are left out, as are functions the script defines.
 */

type Tok = { t: "w"; s: string; /** the source text */ raw: string } | { t: "op"; s: string };

const DYN = "\u0000"; // stands for an expansion inside a word

/** Index just past the `)` that closes the `(` before `i`, skipping quotes. */
function closeParen(s: string, i: number): number {
  let depth = 1;
  while (i < s.length) {
    const c = s[i];
    if (c === "\\") i += 2;
    else if (c === "'") i = s.indexOf("'", i + 1) + 1 || s.length;
    else if (c === '"') {
      i++;
      while (i < s.length && s[i] !== '"') i += s[i] === "\\" ? 2 : 1;
      i++;
    } else {
      if (c === "(") depth++;
      if (c === ")" && --depth === 0) return i + 1;
      i++;
    }
  }
  return s.length;
}

function tokenize(s: string, nested: (script: string) => void): Tok[] {
  const toks: Tok[] = [];
  let word: string | null = null;
  let wstart = 0;
  let i = 0;
  const end = () => {
    if (word !== null) toks.push({ t: "w", s: word, raw: s.slice(wstart, i) });
    word = null;
  };
  const add = (x: string) => {
    word = (word ?? "") + x;
  };
  while (i < s.length) {
    if (word === null) wstart = i;
    const c = s[i];
    const two = s.slice(i, i + 2);
    if (c === " " || c === "\t") {
      end();
      i++;
    } else if (c === "\n") {
      end();
      toks.push({ t: "op", s: "\n" });
      i++;
    } else if (c === "#" && word === null) {
      while (i < s.length && s[i] !== "\n") i++;
    } else if (c === "\\") {
      if (s[i + 1] !== "\n") add(s[i + 1] ?? "");
      i += 2;
    } else if (c === "'") {
      const j = s.indexOf("'", i + 1);
      const k = j < 0 ? s.length : j;
      add(s.slice(i + 1, k));
      i = k + 1;
    } else if (c === '"') {
      i++;
      let q = "";
      while (i < s.length && s[i] !== '"') {
        if (s[i] === "\\") {
          q += s[i + 1] ?? "";
          i += 2;
        } else if (s.startsWith("$((", i)) {
          i = closeParen(s, i + 2);
          q += DYN;
        } else if (s.startsWith("$(", i)) {
          const j = closeParen(s, i + 2);
          nested(s.slice(i + 2, j - 1));
          i = j;
          q += DYN;
        } else if (s[i] === "`") {
          const j = s.indexOf("`", i + 1);
          nested(s.slice(i + 1, j));
          i = j + 1;
          q += DYN;
        } else if (s[i] === "$" && /[A-Za-z_{@*#?!0-9-]/.test(s[i + 1] ?? "")) {
          q += "$";
          i++;
        } else q += s[i++];
      }
      add(q);
      i++;
    } else if (s.startsWith("$((", i)) {
      i = closeParen(s, i + 2);
      add(DYN);
    } else if (two === "$(" || two === "<(" || two === ">(") {
      if (c !== "$") end();
      const j = closeParen(s, i + 2);
      nested(s.slice(i + 2, j - 1));
      i = j;
      add(DYN);
    } else if (two === "${") {
      let depth = 1;
      let j = i + 2;
      while (j < s.length && depth) {
        if (s[j] === "{") depth++;
        if (s[j] === "}") depth--;
        j++;
      }
      add(DYN);
      i = j;
    } else if (c === "`") {
      const j = s.indexOf("`", i + 1);
      nested(s.slice(i + 1, j));
      i = j + 1;
      add(DYN);
    } else if (c === "<" || c === ">") {
      if (word !== null && /^\d+$/.test(word)) word = null; // an fd number
      end();
      let j = i;
      while (/[<>&|]/.test(s[j] ?? "")) j++;
      const op = s.slice(i, j);
      if (op.endsWith("&") && /[\d-]/.test(s[j] ?? "")) {
        while (/[\d-]/.test(s[j] ?? "")) j++;
        toks.push({ t: "op", s: "redir-fd" }); // 2>&1: no file word follows
      } else if (op === "<<" || op === "<<-") {
        // A here-document: skip its body.
        const m = /^\s*(['"]?)([A-Za-z_]+)\1/.exec(s.slice(j))!;
        const body = s.indexOf("\n", j);
        const stop = new RegExp(`^\\t*${m[2]}$`, "m");
        const rest = s.slice(body + 1);
        const k = rest.search(stop);
        toks.push({ t: "op", s: "\n" });
        i = k < 0 ? s.length : body + 1 + k + m[2].length;
        continue;
      } else toks.push({ t: "op", s: "redir" });
      i = j;
    } else if (two === "((") {
      end();
      i = closeParen(s, i + 2);
      if (s[i] === ")") i++;
      toks.push({ t: "op", s: "arith" });
    } else if (two === ";;" || two === "&&" || two === "||" || two === "|&") {
      end();
      toks.push({ t: "op", s: two });
      i += 2;
    } else if (";&|()".includes(c)) {
      end();
      toks.push({ t: "op", s: c });
      i++;
    } else {
      add(c);
      i++;
    }
  }
  end();
  return toks;
}

const KEYWORDS = new Set([
  "if",
  "then",
  "else",
  "elif",
  "fi",
  "do",
  "done",
  "while",
  "until",
  "esac",
  "!",
  "{",
  "}",
  "time",
  "coproc",
]);
/** Wrappers: the command they run follows their options (some options take an argument). */
const WRAPPERS: Record<string, { argOpts?: string[]; skipFirst?: boolean }> = {
  exec: { argOpts: ["-a"] },
  command: {},
  sudo: { argOpts: ["-u", "-g"] },
  env: {},
  nice: { argOpts: ["-n"] },
  setsid: {},
  timeout: { argOpts: ["-s", "-k"], skipFirst: true },
  unshare: {},
  setpriv: {},
  xargs: { argOpts: ["-n", "-I", "-P", "-d"] },
  flock: { argOpts: ["-w", "-E"], skipFirst: true },
};

export interface ShellWordsOptions {
  /** Functions of the script that run their arguments: name → how many arguments come before the command. */
  runFunctions?: Record<string, number>;
}

/** The programs the script runs, in order of appearance (with repeats removed). */
export function shellCommands(script: string, opts: ShellWordsOptions = {}): string[] {
  const found: string[] = [];
  const funcs = new Set<string>();
  for (const m of script.matchAll(/(?:^|[\s;&|(])(?:function\s+)?([A-Za-z_][\w-]*)\s*\(\)/g))
    funcs.add(m[1]);
  const walk = (s: string) => {
    const toks = tokenize(s, walk);
    let start = true;
    let skipWords = 0; // words to skip (wrapper option arguments, redirection targets)
    let wrapper: (typeof WRAPPERS)[string] | null = null;
    let wrapperFirst = false;
    let mode: "" | "for" | "case-word" | "case-pattern" | "test" = "";
    let shell = false; // after sh/bash: a `-c` word is followed by a script
    let shellC = false;
    for (let k = 0; k < toks.length; k++) {
      const tk = toks[k];
      if (tk.t === "op") {
        const prev = toks[k - 1];
        if (tk.s === "(" && prev?.t === "w" && prev.s.endsWith("=")) {
          // `a=(x y)`, also as an argument of `local`: an array, no commands.
          while (k < toks.length && !(toks[k].t === "op" && toks[k].s === ")")) k++;
          continue;
        }
        if (tk.s === "redir") skipWords++;
        if (tk.s === "redir" || tk.s === "redir-fd") continue;
        if (mode === "case-pattern") {
          if (tk.s === ")") {
            mode = "";
            start = true;
          }
          continue;
        }
        if (mode === "for" && (tk.s === ";" || tk.s === "\n")) mode = "";
        if (tk.s === "arith") {
          start = false;
          continue;
        }
        if (tk.s === ";;") mode = "case-pattern";
        start = true;
        wrapper = null;
        shell = shellC = false;
        skipWords = 0;
        continue;
      }
      const w = tk.s;
      if (skipWords > 0) {
        skipWords--;
        continue;
      }
      if (mode === "case-pattern") {
        if (w === "esac") mode = "";
        continue;
      }
      if (mode === "case-word") {
        if (w === "in") mode = "case-pattern";
        continue;
      }
      if (mode === "test") {
        if (w === "]]") mode = "";
        continue;
      }
      if (mode === "for") {
        if (w === "do") {
          mode = "";
          start = true;
        }
        continue;
      }
      if (shellC) {
        walk(w.split(DYN).join(" "));
        shellC = false;
        continue;
      }
      if (shell && w === "-c") {
        shellC = true;
        continue;
      }
      if (wrapper) {
        if (w.startsWith("-")) {
          if (wrapper.argOpts?.includes(w)) skipWords++;
          continue;
        }
        if (wrapperFirst) {
          wrapperFirst = false;
          continue;
        }
        if (/^[A-Za-z_]\w*=/.test(w)) continue; // env VAR=value
        wrapper = null;
        start = true;
      }
      if (!start) continue;
      if (/^[A-Za-z_][A-Za-z0-9_]*(\[[^\]]*\])?\+?=/.test(w)) continue; // an assignment
      // `"${run[@]}" cmd …`: an array of prefix words (e.g. sudo or nothing), then the command.
      if (/^"?\$\{\w+\[@\]\}"?$/.test(tk.raw)) continue;
      if (KEYWORDS.has(w)) {
        if (
          w === "coproc" &&
          toks[k + 1]?.t === "w" &&
          toks[k + 2]?.t === "w" &&
          (toks[k + 2] as { s: string }).s === "{"
        )
          k++; // coproc NAME { … }
        continue;
      }
      if (w === "for" || w === "select") {
        mode = "for";
        continue;
      }
      if (w === "case") {
        mode = "case-word";
        continue;
      }
      if (w === "[[") {
        mode = "test";
        start = false;
        continue;
      }
      if (w === "function") continue;
      const next = toks[k + 1];
      if (
        next?.t === "op" &&
        next.s === "(" &&
        toks[k + 2]?.t === "op" &&
        (toks[k + 2] as { s: string }).s === ")"
      ) {
        k += 2; // a function definition
        continue;
      }
      start = false;
      if (w.includes("$") || w.includes(DYN) || w === "") continue;
      if (!funcs.has(w) && !found.includes(w)) found.push(w);
      if (WRAPPERS[w]) {
        wrapper = WRAPPERS[w];
        wrapperFirst = !!wrapper.skipFirst;
      }
      if (opts.runFunctions?.[w] !== undefined) {
        wrapper = {};
        skipWords = opts.runFunctions[w];
      }
      if (/^(\/usr)?(\/bin\/)?(ba|da)?sh$/.test(w)) shell = true;
    }
  };
  walk(script);
  return found;
}
