/**
 * The lab's UML kernel is `make ARCH=um allnoconfig` plus lab/kernel.config: whatever the
 * fragment does not turn on is off. A missing option fails late and far away (the first minimal
 * kernel lacked CONFIG_TCP_MD5SIG: the full lab test failed at once in bgpd), and a build takes
 * minutes, so these tests check what can be checked without building:
 *   - the fragment is well-formed and kernel.sh's honoured-check catches both kinds of lines;
 *   - the cache key follows the CONFIG lines, not the comments;
 *   - what the lab boots its guests with (file systems, kernel command line) and what the lab
 *     stack's plans need from a kernel (sysctls, netdevs, modules, nftables, checkers) has its
 *     option in the fragment. A new kind of need fails here until the fragment has its option
 *     (and the table below names it).
 * The boot of a built kernel is not a unit test: see lab/kernel.sh and the README.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadStack } from "../../src/config/load";
import { buildPlans } from "../../src/plan";
import { deriveTopology } from "../../src/topology";

const ROOT = path.resolve(__dirname, "../..");
const FRAGMENT = path.join(ROOT, "lab/kernel.config");
const KERNEL_SH = path.join(ROOT, "lab/kernel.sh");
const read = (f: string) => fs.readFileSync(f, "utf8");

const SET = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/;
const UNSET = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/;

/** The fragment as symbol → value ("n" for `is not set`). */
function fragment(text = read(FRAGMENT)): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const s = SET.exec(line) ?? UNSET.exec(line);
    if (s) m.set(s[1], s[2] ?? "n");
  }
  return m;
}

/** `CONFIG_X` is built in according to the fragment. */
const on = (sym: string) => fragment().get(sym) === "y";

function kernelSh(dir: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync("bash", [path.join(dir, "kernel.sh"), ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
  });
}

describe("lab/kernel.config", () => {
  test("every line is a comment, blank, CONFIG_X=value or '# CONFIG_X is not set'; no symbol twice", () => {
    const seen = new Set<string>();
    for (const [i, line] of read(FRAGMENT).split("\n").entries()) {
      const s = SET.exec(line) ?? UNSET.exec(line);
      if (s) {
        expect({ line: i + 1, duplicate: seen.has(s[1]) ? s[1] : "" }).toEqual({
          line: i + 1,
          duplicate: "",
        });
        seen.add(s[1]);
      } else {
        expect({ line: i + 1, text: /^(#.*)?$/.test(line) ? "" : line }).toEqual({
          line: i + 1,
          text: "",
        });
      }
    }
  });

  test("no modules: nothing is =m and CONFIG_MODULES is off", () => {
    const f = fragment();
    expect([...f].filter(([, v]) => v === "m")).toEqual([]);
    expect(f.get("CONFIG_MODULES")).toBe("n");
  });
});

describe("lab/kernel.sh", () => {
  let tmp: string;
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kernel-sh-"));
    fs.copyFileSync(KERNEL_SH, path.join(tmp, "kernel.sh"));
    fs.copyFileSync(FRAGMENT, path.join(tmp, "kernel.config"));
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  // A .config as kconfig writes it when every fragment line is honoured.
  const honoured = () =>
    [...fragment()].map(([s, v]) => (v === "n" ? `# ${s} is not set` : `${s}=${v}`)).join("\n") +
    "\n";

  test("--check passes a .config that honours every line", () => {
    const c = path.join(tmp, "ok.config");
    fs.writeFileSync(c, "CONFIG_SOMETHING_ELSE=y\n" + honoured());
    const r = kernelSh(tmp, ["--check", c]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  test("--check names a =y line that is missing (an unmet dependency) and a set 'is not set' one", () => {
    const c = path.join(tmp, "bad.config");
    fs.writeFileSync(
      c,
      honoured()
        .replace("CONFIG_TCP_MD5SIG=y\n", "# CONFIG_TCP_MD5SIG is not set\n")
        .replace("# CONFIG_MODULES is not set\n", "CONFIG_MODULES=y\n"),
    );
    const r = kernelSh(tmp, ["--check", c]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("fragment line not honoured: CONFIG_TCP_MD5SIG=y");
    expect(r.stderr).toContain("fragment line not honoured: # CONFIG_MODULES is not set");
  });

  test("the cache key (--path) follows the CONFIG lines, not the comments, under MAGLEV_UML_CACHE", () => {
    const cache = path.join(tmp, "cache");
    const p = () => {
      const r = kernelSh(tmp, ["--path"], { MAGLEV_UML_CACHE: cache });
      expect(r.status).toBe(1); // not built
      return r.stdout.trim();
    };
    const base = p();
    expect(base).toMatch(new RegExp(`^${cache}/uml-[0-9a-f]{16}/linux$`));
    const cfg = path.join(tmp, "kernel.config");
    const orig = read(cfg);
    fs.writeFileSync(cfg, "# a new comment\n" + orig);
    expect(p()).toBe(base);
    fs.writeFileSync(cfg, orig + "CONFIG_VETH=y\n");
    expect(p()).not.toBe(base);
    fs.writeFileSync(cfg, orig);
    expect(p()).toBe(base);
  });
});

describe("what the lab needs from its kernel is in the fragment", () => {
  const guestTs = read(path.join(ROOT, "lab/guest.ts"));

  /** File system type → the option that provides it. */
  const FS: Record<string, string> = {
    proc: "CONFIG_PROC_FS",
    sysfs: "CONFIG_SYSFS",
    devtmpfs: "CONFIG_DEVTMPFS",
    tmpfs: "CONFIG_TMPFS",
    hostfs: "CONFIG_HOSTFS",
    devpts: "CONFIG_UNIX98_PTYS",
    overlay: "CONFIG_OVERLAY_FS",
    ext4: "CONFIG_EXT4_FS",
  };

  test("every file system lab/guest.ts mounts in a guest (its fstab lines)", () => {
    const types = new Set<string>();
    // fstab lines in string or template literals: "<what> <where> <type> <options> 0 0"
    for (const m of guestTs.matchAll(/["`]\S+ \/\S* ([a-z0-9]+) \S+ 0 0["`]/g))
      if (m[1] !== "none") types.add(m[1]); // none: a bind mount
    expect(types.size).toBeGreaterThan(5);
    for (const t of types)
      expect({ fs: t, option: FS[t] && on(FS[t]) ? FS[t] : "missing" }).toEqual({
        fs: t,
        option: FS[t],
      });
    // overlayfs keeps whiteouts in trusted.* xattrs on its tmpfs upper layer.
    expect(on("CONFIG_TMPFS_XATTR")).toBe(true);
  });

  test("the kernel command line and host tools lab/guest.ts uses", () => {
    const needs: [RegExp, string][] = [
      [/"rootfstype=hostfs"/, "CONFIG_HOSTFS"],
      [/`ubd0=/, "CONFIG_BLK_DEV_UBD"],
      [/eth\$\{i\}=vde,/, "CONFIG_UML_NET_VDE"],
      [/"con=null"/, "CONFIG_NULL_CHAN"],
      [/"dummy\.numdummies=0"/, "CONFIG_DUMMY"],
      [/"uml_mconsole"/, "CONFIG_MCONSOLE"],
    ];
    for (const [re, sym] of needs) {
      expect({ uses: re.source, found: re.test(guestTs) }).toEqual({
        uses: re.source,
        found: true,
      });
      expect({ uses: re.source, option: on(sym) ? sym : "missing" }).toEqual({
        uses: re.source,
        option: sym,
      });
    }
  });

  /** Sysctl key (prefix) → option that creates it under /proc/sys. */
  const SYSCTLS: [RegExp, string[]][] = [
    [/^net\.ipv4\.vs\./, ["CONFIG_IP_VS", "CONFIG_IP_VS_NFCT"]],
    [/^net\.ipv4\.fib_multipath_/, ["CONFIG_IP_ROUTE_MULTIPATH"]],
    [/^net\.ipv6\.fib_multipath_/, ["CONFIG_IPV6"]],
    [/^net\.ipv4\.(conf\.[^.]+\.[a-z_]+|ip_nonlocal_bind|ip_forward)$/, ["CONFIG_INET"]],
    [/^net\.ipv6\.(conf\.[^.]+\.[a-z_]+|ip_nonlocal_bind)$/, ["CONFIG_IPV6"]],
    [/^net\.ipv4\.tcp_syncookies$/, ["CONFIG_SYN_COOKIES"]],
    [/^net\.netfilter\.nf_conntrack_/, ["CONFIG_NF_CONNTRACK"]],
  ];
  /** Kernel module names (modules-load.d, modprobe) → the option that builds them in. */
  const MODULES: Record<string, string> = {
    ip_vs: "CONFIG_IP_VS",
    ip_vs_rr: "CONFIG_IP_VS_RR",
    ip_vs_wrr: "CONFIG_IP_VS_WRR",
    ip_vs_sh: "CONFIG_IP_VS_SH",
    ip_vs_mh: "CONFIG_IP_VS_MH",
    nf_conntrack: "CONFIG_NF_CONNTRACK",
    dummy: "CONFIG_DUMMY",
    vrf: "CONFIG_NET_VRF",
  };
  /** systemd-networkd netdev Kind= → option. */
  const NETDEVS: Record<string, string> = { dummy: "CONFIG_DUMMY", vrf: "CONFIG_NET_VRF" };

  const plans = buildPlans(deriveTopology(loadStack("lab", ROOT)));
  const files = plans.flatMap((p) => p.files.map((f) => ({ host: p.name, ...f })));

  test("every sysctl of the lab stack's plans", () => {
    const keys = [...new Set(plans.flatMap((p) => p.sysctls.map((s) => s.key)))].sort();
    expect(keys.length).toBeGreaterThan(10);
    for (const k of keys) {
      const row = SYSCTLS.find(([re]) => re.test(k));
      const missing = row
        ? row[1].filter((s) => !on(s))
        : ["(no row in SYSCTLS: add the key's option)"];
      expect({ sysctl: k, missing }).toEqual({ sysctl: k, missing: [] });
    }
  });

  test("every kernel module the plans load or name for a sysctl (built in)", () => {
    const names = new Set<string>();
    for (const p of plans) for (const s of p.sysctls) if (s.module) names.add(s.module);
    for (const f of files.filter((x) => x.path.startsWith("/etc/modules-load.d/")))
      for (const l of f.content.split("\n")) if (/^[a-z0-9_]+$/.test(l)) names.add(l);
    for (const f of files)
      for (const a of [f.activate, f.validate])
        for (const m of JSON.stringify(a ?? "").matchAll(/modprobe (?:-a )?([a-z0-9_ ]+)/g))
          for (const n of m[1].split(" ")) if (n) names.add(n);
    expect(names.has("ip_vs")).toBe(true);
    for (const n of names)
      expect({ module: n, option: MODULES[n] && on(MODULES[n]) ? MODULES[n] : "missing" }).toEqual({
        module: n,
        option: MODULES[n],
      });
  });

  test("every systemd-networkd netdev kind the plans create", () => {
    const kinds = new Set<string>();
    for (const f of files.filter((x) => x.path.endsWith(".netdev")))
      for (const m of f.content.matchAll(/^Kind=(\S+)/gm)) kinds.add(m[1]);
    expect(kinds.has("dummy")).toBe(true);
    for (const k of kinds)
      expect({ kind: k, option: NETDEVS[k] && on(NETDEVS[k]) ? NETDEVS[k] : "missing" }).toEqual({
        kind: k,
        option: NETDEVS[k],
      });
    // The lab's applier (lab/guest-svc.sh) creates both kinds as well.
    expect(on("CONFIG_NET_VRF") && on("CONFIG_NET_L3_MASTER_DEV")).toBe(true);
  });

  test("the nftables files: families, hooks, expressions", () => {
    const nft = files.filter((f) => f.path.endsWith(".nft")).map((f) => f.content);
    expect(nft.length).toBeGreaterThan(5);
    const text = nft.join("\n");
    const needs: [RegExp, string[]][] = [
      [
        /^table inet /m,
        [
          "CONFIG_NF_TABLES",
          "CONFIG_NF_TABLES_INET",
          "CONFIG_NF_TABLES_IPV4",
          "CONFIG_NF_TABLES_IPV6",
        ],
      ],
      [/^table netdev /m, ["CONFIG_NF_TABLES_NETDEV", "CONFIG_NETFILTER_INGRESS"]],
      [/\bct state\b|\bnotrack\b/, ["CONFIG_NFT_CT", "CONFIG_NF_CONNTRACK"]],
      [/\bct mark\b/, ["CONFIG_NFT_CT", "CONFIG_NF_CONNTRACK_MARK"]],
      [/\blimit rate\b/, ["CONFIG_NFT_LIMIT"]],
      [/\breject\b/, ["CONFIG_NFT_REJECT", "CONFIG_NFT_REJECT_INET"]],
      [/\bfib\b/, ["CONFIG_NFT_FIB_INET"]],
      [/\bsocket (transparent|mark|wildcard)\b/, ["CONFIG_NFT_SOCKET"]],
      [/\b(jhash|symhash)\b/, ["CONFIG_NFT_HASH"]],
      [/\bnumgen\b/, ["CONFIG_NFT_NUMGEN"]],
      [/\b(snat|dnat|redirect)\b/, ["CONFIG_NFT_NAT"]],
      [/\bmasquerade\b/, ["CONFIG_NFT_MASQ"]],
      [/^\s*log\b|\slog (prefix|level)\b/m, ["CONFIG_NFT_LOG", "CONFIG_NF_LOG_SYSLOG"]],
    ];
    for (const [re, syms] of needs)
      if (re.test(text))
        expect({ uses: re.source, missing: syms.filter((s) => !on(s)) }).toEqual({
          uses: re.source,
          missing: [],
        });
  });

  test("the checkers and commands the plans run in a guest", () => {
    const cmds = files.flatMap((f) => [
      f.validate?.command ?? "",
      JSON.stringify(f.activate ?? ""),
    ]);
    cmds.push(
      ...plans.flatMap((p) => [
        p.health?.command ?? "",
        p.drain?.drain ?? "",
        p.drain?.undrain ?? "",
      ]),
    );
    const text = cmds.join("\n");
    const needs: [RegExp, string[]][] = [
      [/unshare -n /, ["CONFIG_NET_NS"]], // the nft checker
      [/\bss -\w*t/, ["CONFIG_INET_DIAG", "CONFIG_INET_TCP_DIAG"]],
      [/\bipvsadm\b/, ["CONFIG_IP_VS"]],
      [/\bsystemd-analyze\b|\bsystemctl\b/, ["CONFIG_CGROUPS"]],
    ];
    expect(/unshare -n /.test(text)).toBe(true);
    for (const [re, syms] of needs)
      if (re.test(text))
        expect({ uses: re.source, missing: syms.filter((s) => !on(s)) }).toEqual({
          uses: re.source,
          missing: [],
        });
  });

  test("BGP (FRR, ExaBGP) can sign sessions, as with neighbour passwords", () => {
    // The first minimal kernel lacked it: bgpd failed with "sockopt_tcp_signature: Protocol not available".
    expect(files.some((f) => f.path === "/etc/frr/frr.conf")).toBe(true);
    expect(on("CONFIG_TCP_MD5SIG")).toBe(true);
  });

  test("systemd 252 as PID 1 (its README's required options, cgroup v2, namespaces)", () => {
    const required = [
      "CONFIG_DEVTMPFS",
      "CONFIG_CGROUPS",
      "CONFIG_INOTIFY_USER",
      "CONFIG_SIGNALFD",
      "CONFIG_TIMERFD",
      "CONFIG_EPOLL",
      "CONFIG_UNIX",
      "CONFIG_SYSFS",
      "CONFIG_PROC_FS",
      "CONFIG_FHANDLE",
      "CONFIG_NET_NS",
      "CONFIG_USER_NS",
      "CONFIG_TMPFS_XATTR",
    ];
    expect(required.filter((s) => !on(s))).toEqual([]);
    const f = fragment();
    for (const s of ["CONFIG_SYSFS_DEPRECATED", "CONFIG_UEVENT_HELPER", "CONFIG_RT_GROUP_SCHED"])
      expect({ [s]: f.get(s) }).toEqual({ [s]: "n" });
  });
});
