/**
 * Lab guests: one User-Mode Linux process per node, one vde_switch per network, an exec
 * agent inside each guest reached through a hostfs-shared directory (see lab/init.sh for the
 * guest side and ../shared/LAB-NOTES.md for the measured facts behind the choices).
 *
 * Everything needed to reach a running lab lives in its state dir (default /run/maglev-lab,
 * never inside the repo): `lab.json` records every PID we started, so `Lab.attach(dir).down()`
 * from another process can still tear it all down. We only ever signal PIDs we started.
 *
 * One file (over 1,100 lines) for now: the Lab class owns every PID and the state file, and
 * its boot (define/start: kernel command line, disks, cloud-init, two kinds of guest) is half
 * of it. It splits once the bash guests go (issue 13): their boot path and lab/guest-svc.sh
 * leave with them, and what stays is the systemd guest's boot beside exec/SSH.
 */
import { spawn, spawnSync } from "child_process";
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { shellWord } from "../src/escape";
import type { SshRunnerOptions } from "../src/ops/runner";

export const DEFAULT_STATE_DIR = process.env.MAGLEV_LAB_DIR ?? "/run/maglev-lab";
const LAB_SRC = __dirname;
const MACHINE_SRC = path.join(__dirname, "machine");

/** Disk of a systemd guest: sparse, so only what the guest writes takes space. */
const DISK_MB = 1024;

/**
 * Units a systemd guest masks (runtime links under /run/systemd/system): what a UML guest cannot or
 * need not run and a cloud VM would run once or never — each costs a share of 2 host cores
 * that 13 guests boot on. (This machine's SysV-only scripts — ipvsadm, uml-utilities … — need no
 * mask: the SysV generator is off, GUEST_GENERATORS_OFF.)
 */
const GUEST_MASKS = [
  "modprobe@.service", // every guest module is built in: nothing to load
  "systemd-hwdb-update.service", // ConditionNeedsUpdate on a fresh /etc: once per OS update on a VM
  "ldconfig.service",
  "systemd-pstore.service",
  "systemd-binfmt.service",
  "sys-kernel-debug.mount",
  "sys-kernel-tracing.mount",
  "sys-kernel-config.mount",
  "sys-fs-fuse-connections.mount",
  "dev-hugepages.mount",
  "systemd-tmpfiles-clean.timer",
  // The guests share this machine's root: its system users exist; / is the read-only hostfs.
  "systemd-sysusers.service",
  "systemd-remount-fs.service",
  "systemd-journal-flush.service", // journal kept in RAM (journald-lab.conf)
  // Logins: sshd's PAM session asks logind only optionally (pam_systemd); no apply needs it
  // and it cost ~6 s of a guest's boot here. D-Bus stays: `networkctl reload` needs it.
  "systemd-logind.service",
  // No login prompt on the lab's console (con0 is the console log).
  "console-getty.service",
  "getty@.service",
  "serial-getty@.service",
];

/** Generators a systemd guest does without (runtime links to /dev/null; see prepareSystemd). */
const GUEST_GENERATORS_OFF = [
  "postgresql-generator",
  "systemd-cryptsetup-generator",
  "systemd-debug-generator",
  "systemd-getty-generator",
  "systemd-gpt-auto-generator",
  "systemd-hibernate-resume-generator",
  "systemd-integritysetup-generator",
  "systemd-rc-local-generator",
  "systemd-run-generator",
  "systemd-system-update-generator",
  "systemd-sysv-generator",
  "systemd-veritysetup-generator",
];

/** One NIC of a guest. `ifname` is what the plan expects (`mgmt0`, `ingress0`). */
export interface NodeInterface {
  ifname: string;
  /** Lab network (one vde_switch each), e.g. `mgmt`, `ingress`, `client`. */
  network: string;
  /** CIDR, e.g. `10.0.0.11/24`. */
  ipv4?: string;
  /** CIDR, e.g. `fd00:0:0:7::11/64`. */
  ipv6?: string;
  /** Defaults to a stable locally administered MAC derived from node name and index. */
  mac?: string;
}

export interface NodeSpec {
  /** Short name, also the UML umid and the node dir name. */
  name: string;
  /** Hostname inside the guest (defaults to `name`). */
  hostname?: string;
  /** Guest RAM in MiB (LAB-NOTES: 128 for FRR/wrk, 96 is enough for lb/web, 64 is not). */
  memMB?: number;
  interfaces: NodeInterface[];
  /** Extra `ip -batch` lines run at boot after the addresses, e.g. `route add default via 10.0.0.1`. */
  ipBatch?: string[];
  /** Extra lines for the guest's /etc/hosts (all lab nodes' mgmt addresses are added anyway). */
  hosts?: string[];
  /** Host CPU niceness of the guest (and every host process it forks). @default 0 */
  nice?: number;
  /**
   * `systemd`: systemd as PID 1 on a disk of its own that survives a restart, prepared as a
   * fresh Debian cloud VM (lab/machine/); `bash`: the lab's short init (lab/init.sh) for the
   * lab-only nodes (router, client, app servers). @default "bash"
   */
  machine?: "bash" | "systemd";
  /** What cloud-init would give a systemd guest on its first boot (the stack's user and key). */
  cloudInit?: CloudInit;
}

/** The first-boot data of a systemd guest, as Proxmox's cloud-init drive carries it. */
export interface CloudInit {
  /** Login user (`proxmox.user`); gets cloud-init's `NOPASSWD:ALL` sudo rule unless root. */
  user: string;
  /** authorized_keys content. @default the lab's own key (`Lab.sshKey()`) */
  authorizedKeys?: string;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** Exit code; 124 when the host-side timeout fired (the job's process group is killed). */
  code: number;
  /** Host-side round trip in ms. */
  ms: number;
}

export interface ExecOptions {
  /** Default 60 s. */
  timeoutMs?: number;
  /** Given to the script on stdin (a file only root reads, removed afterwards): secrets stay out of the script text. */
  stdin?: string;
}

export interface FileToWrite {
  path: string;
  content: string;
  /** Octal string, default `0644`. */
  mode?: string;
  /** `user:group`, default `root:root`. */
  owner?: string;
}

export interface BootInfo {
  node: string;
  pid: number;
  /** Host time from spawn to the agent's ready file, ms. */
  readyMs: number;
  /** The guest's own uptime when init finished, s. */
  guestUptime: number;
}

export type NodeState = "defined" | "running" | "stopped";

export interface LabStatus {
  stateDir: string;
  kernel: string;
  switches: { network: string; pid: number; alive: boolean }[];
  nodes: {
    name: string;
    state: NodeState;
    pid?: number;
    alive: boolean;
    readyMs?: number;
    memMB: number;
  }[];
}

export interface LabOptions {
  stateDir?: string;
  /** Path of the UML kernel; default: the one lab/kernel.sh built (`--path`). */
  kernel?: string;
}

interface NodeRecord {
  spec: NodeSpec;
  state: NodeState;
  pid?: number;
  readyMs?: number;
  /** systemd guests: `systemctl is-system-running` after boot, and the failed units. */
  bootState?: string;
}

interface LabFile {
  kernel: string;
  modules: string;
  switches: Record<string, number>;
  nodes: Record<string, NodeRecord>;
  /** The operator's seat on a lab network (SSH into the guests), when `operator()` made one. */
  operator?: OperatorSeat;
}

/**
 * Where the lab's SSH client sits: a network namespace of this machine with a tap plugged into
 * one lab switch (vde_plug2tap), carrying one address of that network. Nothing outside the
 * namespace sees the lab; `down()` removes both.
 */
export interface OperatorSeat {
  netns: string;
  network: string;
  tapPid: number;
  ipv4: string;
  ipv6?: string;
}

/** How the lab's SSH client reaches the guests (lab/../src/ops/runner.ts takes these). */
export interface LabSsh {
  /** argv put before `ssh`: run inside the operator's namespace. */
  prefix: string[];
  identityFile: string;
  knownHostsFile: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0): count it as gone.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** PID of a live process whose argv starts with `prefix` exactly (one we started). */
function findByArgv(prefix: string[]): number | undefined {
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
      if (prefix.every((a, i) => argv[i] === a) && alive(Number(e))) return Number(e);
    } catch {
      /* exited meanwhile */
    }
  }
  return undefined;
}

/** Path of the lab kernel as lab/kernel.sh computes it (exists or not). */
export function labKernelPath(): { path: string; built: boolean } {
  const r = spawnSync(path.join(LAB_SRC, "kernel.sh"), ["--path"], { encoding: "utf8" });
  const p = r.stdout.trim();
  return { path: p, built: r.status === 0 && p !== "" };
}

/** Host directory holding `<release>/` module trees for a kernel binary. */
function modulesDirFor(kernel: string): string {
  const built = path.join(path.dirname(kernel), "modules", "lib", "modules");
  if (fs.existsSync(built)) return built;
  // The stock Debian UML kernel.
  return "/usr/lib/uml/modules";
}

/** The first mounts of a guest's init: API file systems, tmpfs /run, the node dir on /run/lab. */
function fstab1(dir: string, more: string[] = []): string {
  return (
    [
      "proc /proc proc nosuid,nodev,noexec 0 0",
      "sysfs /sys sysfs nosuid,nodev,noexec 0 0",
      "devtmpfs /dev devtmpfs mode=0755 0 0",
      "tmpfs /run tmpfs mode=0755,nosuid,nodev 0 0",
      `hostfs /run/lab hostfs ${dir},X-mount.mkdir 0 0`,
      ...more,
    ].join("\n") + "\n"
  );
}

/** Proxmox's cloud-init drive gives the first NIC its address and default routes (netplan v2). */
function cloudInitNetplan(spec: NodeSpec): string {
  const m = spec.interfaces[0];
  const routes = (spec.ipBatch ?? [])
    .map((l) => /^route replace default via (\S+)/.exec(l)?.[1])
    .filter((v): v is string => !!v)
    .map((via) => ({ to: "default", via }));
  const eth: Record<string, unknown> = {
    addresses: [m.ipv4, m.ipv6].filter((a): a is string => !!a),
  };
  if (routes.length) eth.routes = routes;
  return (
    "# What cloud-init writes on a VM's first boot (lab/guest.ts, lab only).\n" +
    YAML.stringify({ network: { version: 2, ethernets: { [m.ifname]: eth } } })
  );
}

function macFor(node: string, index: number): string {
  const h = createHash("sha256").update(node).digest();
  const b = [0x02, h[0], h[1], h[2], h[3], index & 0xff];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

export class Lab {
  readonly stateDir: string;
  private file: LabFile;
  private seq = 0;

  private constructor(stateDir: string, file: LabFile) {
    this.stateDir = stateDir;
    this.file = file;
  }

  /** A new lab (or the one already in `stateDir`, re-attached). */
  static create(opts: LabOptions = {}): Lab {
    const stateDir = path.resolve(opts.stateDir ?? DEFAULT_STATE_DIR);
    if (stateDir.startsWith(path.resolve(LAB_SRC, "..") + path.sep)) {
      throw new Error(`lab state dir ${stateDir} is inside the repo; use e.g. /run/maglev-lab`);
    }
    if (fs.existsSync(path.join(stateDir, "lab.json"))) return Lab.attach(stateDir);
    let kernel = opts.kernel;
    if (!kernel) {
      const k = labKernelPath();
      if (!k.built) throw new Error(`lab kernel not built (${k.path}); run lab/kernel.sh`);
      kernel = k.path;
    }
    fs.mkdirSync(path.join(stateDir, "uml"), { recursive: true });
    fs.mkdirSync(path.join(stateDir, "sw"), { recursive: true });
    const lab = new Lab(stateDir, {
      kernel,
      modules: modulesDirFor(kernel),
      switches: {},
      nodes: {},
    });
    lab.save();
    return lab;
  }

  /** Re-attach to a lab started by another process (e.g. to `down()` it). */
  static attach(stateDir: string = DEFAULT_STATE_DIR): Lab {
    const f = JSON.parse(fs.readFileSync(path.join(stateDir, "lab.json"), "utf8")) as LabFile;
    return new Lab(path.resolve(stateDir), f);
  }

  private save(): void {
    const p = path.join(this.stateDir, "lab.json");
    fs.writeFileSync(p + ".tmp", JSON.stringify(this.file, null, 2));
    fs.renameSync(p + ".tmp", p);
  }

  nodeDir(node: string): string {
    return path.join(this.stateDir, "nodes", node);
  }

  /**
   * The node's record, re-read from lab.json when the guest we know of is not running: another
   * Lab of this lab (the power cycle of `ops maintain --lab`, a scenario's restore) may have
   * restarted it under a new PID since this one attached.
   */
  private current(node: string): NodeRecord {
    const r = this.rec(node);
    if (r.state === "running" && r.pid !== undefined && alive(r.pid)) return r;
    try {
      const f = JSON.parse(
        fs.readFileSync(path.join(this.stateDir, "lab.json"), "utf8"),
      ) as LabFile;
      const fresh = f.nodes[node];
      if (fresh) this.file.nodes[node] = fresh;
    } catch {
      /* no lab.json: keep what we have */
    }
    return this.rec(node);
  }

  private rec(node: string): NodeRecord {
    const r = this.file.nodes[node];
    if (!r) throw new Error(`unknown lab node ${node}`);
    return r;
  }

  /** Declare nodes (before starting any: every guest's /etc/hosts lists all of them). */
  define(...specs: NodeSpec[]): void {
    for (const s of specs) {
      if (!/^[a-z0-9][a-z0-9-]{0,30}$/.test(s.name)) throw new Error(`bad node name ${s.name}`);
      const old = this.file.nodes[s.name];
      if (old && old.state === "running") throw new Error(`${s.name} is running`);
      this.file.nodes[s.name] = { spec: s, state: "defined" };
    }
    this.save();
  }

  /** Start the vde_switch of a network if it is not running. */
  private async ensureSwitch(network: string): Promise<string> {
    if (!/^[a-z0-9-]+$/.test(network)) throw new Error(`bad network name ${network}`);
    const sock = path.join(this.stateDir, "sw", network);
    if (alive(this.file.switches[network])) return sock;
    const pidFile = sock + ".pid";
    fs.rmSync(pidFile, { force: true });
    fs.rmSync(sock, { recursive: true, force: true });
    // -d daemonizes; the daemon writes its own PID file, which is the PID we kill later.
    const r = spawnSync("vde_switch", ["-s", sock, "-d", "-p", pidFile, "-n", "64"], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(`vde_switch ${network}: ${r.stderr}`);
    // Under load the daemon can take seconds to write its PID file: wait (bounded), then fall
    // back to finding the process by its exact argv (our own socket path), so a switch we
    // started is never left unrecorded and thus never left behind by down().
    let pid = 0;
    for (let i = 0; i < 500 && !pid; i++) {
      try {
        pid = Number(fs.readFileSync(pidFile, "utf8").trim()) || 0;
      } catch {
        await sleep(20);
      }
    }
    if (!pid) pid = findByArgv(["vde_switch", "-s", sock]) ?? 0;
    if (!pid) throw new Error(`vde_switch ${network}: no pid after 10 s`);
    this.file.switches[network] = pid;
    this.save();
    return sock;
  }

  /** Write the node dir: everything init.sh reads, the agent dirs, the guest's bin/. */
  private prepareNodeDir(spec: NodeSpec): string {
    const dir = this.nodeDir(spec.name);
    // A restart is a fresh boot: old results must not be mistaken for new ones.
    for (const d of ["in", "out", "xfer"])
      fs.rmSync(path.join(dir, d), { recursive: true, force: true });
    fs.rmSync(path.join(dir, "ready"), { force: true });
    fs.rmSync(path.join(dir, "first-boot.failed"), { force: true });
    for (const d of ["in", "out", "xfer", "log", "bin"])
      fs.mkdirSync(path.join(dir, d), { recursive: true });

    fs.writeFileSync(path.join(dir, "fstab.1"), fstab1(dir));
    // /usr/local: the plans install scripts there (exabgp-announce, pdns-*-init, hactl).
    const ov = ["etc", "var", "usr/lib", "usr/local"];
    fs.writeFileSync(
      path.join(dir, "mkdirs"),
      ov.flatMap((d) => [`/run/ov/${d}/u`, `/run/ov/${d}/w`]).join("\n") + "\n",
    );
    fs.writeFileSync(
      path.join(dir, "fstab.2"),
      [
        "devpts /dev/pts devpts gid=5,mode=0620,ptmxmode=0666,X-mount.mkdir 0 0",
        "tmpfs /dev/shm tmpfs nosuid,nodev,X-mount.mkdir 0 0",
        // hostfs root is read-only; daemons and the plan write under these.
        ...ov.map(
          (d) =>
            `overlay /${d} overlay lowerdir=/${d},upperdir=/run/ov/${d}/u,workdir=/run/ov/${d}/w 0 0`,
        ),
        "tmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0",
        // kmod looks in /lib/modules/$(uname -r): point it at this kernel's modules.
        `${this.file.modules} /usr/lib/modules none bind,X-mount.mkdir 0 0`,
      ].join("\n") + "\n",
    );
    fs.writeFileSync(path.join(dir, "hostname"), (spec.hostname ?? spec.name) + "\n");

    const hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
    for (const r of Object.values(this.file.nodes)) {
      const s = r.spec;
      const names = s.hostname && s.hostname !== s.name ? `${s.hostname} ${s.name}` : s.name;
      const m = s.interfaces[0];
      if (m?.ipv4) hosts.push(`${m.ipv4.split("/")[0]}\t${names}`);
      if (m?.ipv6) hosts.push(`${m.ipv6.split("/")[0]}\t${names}`);
    }
    hosts.push(...(spec.hosts ?? []));
    fs.writeFileSync(path.join(dir, "hosts"), hosts.join("\n") + "\n");

    const batch: string[] = ["link set lo up"];
    spec.interfaces.forEach((ifc, i) => {
      batch.push(`link set eth${i} name ${ifc.ifname}`, `link set ${ifc.ifname} up`);
      if (ifc.ipv4) batch.push(`addr add ${ifc.ipv4} dev ${ifc.ifname}`);
      // nodad: usable at once (BGP over v6 must not wait for DAD).
      if (ifc.ipv6) batch.push(`addr add ${ifc.ipv6} dev ${ifc.ifname} nodad`);
    });
    batch.push(...(spec.ipBatch ?? []));
    fs.writeFileSync(path.join(dir, "net.batch"), batch.join("\n") + "\n");
    fs.writeFileSync(path.join(dir, "env"), `LAB_NODE=${shellWord(spec.name)}\nexport LAB_NODE\n`);
    fs.copyFileSync(path.join(MACHINE_SRC, "agent.sh"), path.join(dir, "agent.sh"));
    if (spec.machine === "systemd") {
      this.prepareSystemd(spec, dir);
      return dir;
    }

    // The guest runs copies, so edits in the repo never change a running guest.
    fs.copyFileSync(path.join(LAB_SRC, "init.sh"), path.join(dir, "init.sh"));
    fs.chmodSync(path.join(dir, "init.sh"), 0o755);
    const svc = path.join(dir, "bin", "svc");
    fs.copyFileSync(path.join(LAB_SRC, "guest-svc.sh"), svc);
    fs.chmodSync(svc, 0o755);
    // Multi-call: the plan's own commands (`systemctl …`, `networkctl reload`, `netplan …`)
    // reach the lab's service manager because /run/lab/bin is first on the guest's PATH;
    // `apt-get` there reports what the apply program would install (no network in the lab).
    for (const alias of ["systemctl", "networkctl", "netplan", "apt-get"]) {
      const p = path.join(dir, "bin", alias);
      fs.rmSync(p, { force: true });
      fs.symlinkSync("svc", p);
    }
    return dir;
  }

  /**
   * The node dir of a systemd guest (lab/machine/preinit.sh reads it): mounts with the disk's
   * upper layers, the first-boot data cloud-init would bring, the runtime-only lab units.
   * The disk and the SSH host key are made once and kept: a restart is a reboot.
   */
  private prepareSystemd(spec: NodeSpec, dir: string): void {
    const ov = ["etc", "var", "usr/lib", "usr/local"];
    // /home and /root are the guest's own, on its disk, not over this machine's: a cloud VM's
    // start empty (first-boot.sh gives root Debian's dot files), and this machine's root dot
    // files (a pyenv init in .bashrc) made every ssh command to a guest 20 s slower.
    const own = ["home", "root"];
    // The disk too: the overlays' upper layers live on it.
    fs.writeFileSync(
      path.join(dir, "fstab.1"),
      fstab1(dir, ["/dev/ubda /run/disk ext4 noatime,X-mount.mkdir 0 0"]),
    );
    fs.writeFileSync(
      path.join(dir, "mkdirs"),
      [
        ...ov.flatMap((d) => [`/run/disk/ov/${d}/u`, `/run/disk/ov/${d}/w`]),
        ...own.map((d) => `/run/disk/${d}`),
      ].join("\n") + "\n",
    );
    fs.writeFileSync(
      path.join(dir, "fstab.2"),
      [
        ...ov.map(
          (d) =>
            `overlay /${d} overlay lowerdir=/${d},upperdir=/run/disk/ov/${d}/u,workdir=/run/disk/ov/${d}/w 0 0`,
        ),
        ...own.map((d) => `/run/disk/${d} /${d} none bind 0 0`),
        "tmpfs /tmp tmpfs mode=1777,nosuid,nodev 0 0",
        `${this.file.modules} /usr/lib/modules none bind,X-mount.mkdir 0 0`,
      ].join("\n") + "\n",
    );
    for (const f of ["preinit.sh", "first-boot.sh"]) {
      fs.copyFileSync(path.join(MACHINE_SRC, f), path.join(dir, f));
      fs.chmodSync(path.join(dir, f), 0o755);
    }
    const rt = path.join(dir, "runtime", "systemd");
    fs.mkdirSync(path.join(rt, "system"), { recursive: true });
    fs.mkdirSync(path.join(rt, "journald.conf.d"), { recursive: true });
    fs.copyFileSync(
      path.join(MACHINE_SRC, "lab-agent.service"),
      path.join(rt, "system", "lab-agent.service"),
    );
    fs.copyFileSync(
      path.join(MACHINE_SRC, "journald-lab.conf"),
      path.join(rt, "journald.conf.d", "lab.conf"),
    );
    fs.mkdirSync(path.join(rt, "system.conf.d"), { recursive: true });
    fs.copyFileSync(
      path.join(MACHINE_SRC, "system-lab.conf"),
      path.join(rt, "system.conf.d", "lab.conf"),
    );
    // Runtime links (/run/systemd/system outranks /etc): the agent wanted, the masks. systemd
    // ignores systemd.mask=/systemd.wants= on a UML kernel command line (measured), so files.
    const wants = path.join(rt, "system", "multi-user.target.wants");
    fs.mkdirSync(wants, { recursive: true });
    const link = (target: string, p: string) => {
      fs.rmSync(p, { force: true });
      fs.symlinkSync(target, p);
    };
    link("/run/systemd/system/lab-agent.service", path.join(wants, "lab-agent.service"));
    for (const u of GUEST_MASKS) link("/dev/null", path.join(rt, "system", u));
    // Generators run at boot and again on every daemon-reload (one took 14 s in a loaded
    // guest, each exec costing up to a second): only those a guest needs run — netplan's (the
    // plans' network files) and fstab's. The rest look for disks, encryption, SysV scripts,
    // PostgreSQL clusters this machine has and a guest does not use.
    const gens = path.join(rt, "system-generators");
    fs.mkdirSync(gens, { recursive: true });
    for (const g of GUEST_GENERATORS_OFF) link("/dev/null", path.join(gens, g));
    // The pre-init's mounts are the guest's "initramfs" mounts: systemd must not unmount them
    // on the way down (seen: a reboot hung for 12 min after "target is busy" on /usr/lib and
    // /run/lab, the agent's). Without default dependencies a mount unit has no conflict with
    // umount.target; systemd-shutdown's last pass remounts what is left read-only.
    for (const m of [
      "etc",
      "var",
      "usr-lib",
      "usr-local",
      "home",
      "root",
      "tmp",
      "run-lab",
      "run-disk",
      "usr-lib-modules",
    ]) {
      fs.mkdirSync(path.join(rt, "system", `${m}.mount.d`), { recursive: true });
      fs.copyFileSync(
        path.join(MACHINE_SRC, "mount-lab.conf"),
        path.join(rt, "system", `${m}.mount.d`, "lab.conf"),
      );
    }
    // udev's coldplug of every device took 8 s of a guest's boot: only NICs (named by the
    // .link files) and the disk need it.
    fs.mkdirSync(path.join(rt, "system", "systemd-udev-trigger.service.d"), { recursive: true });
    fs.copyFileSync(
      path.join(MACHINE_SRC, "udev-trigger-lab.conf"),
      path.join(rt, "system", "systemd-udev-trigger.service.d", "lab.conf"),
    );

    const ci = path.join(dir, "cloud-init");
    fs.mkdirSync(ci, { recursive: true });
    const user = spec.cloudInit?.user ?? "root";
    fs.writeFileSync(path.join(ci, "user"), `${user}\n`);
    fs.writeFileSync(path.join(ci, "hostname"), `${spec.hostname ?? spec.name}\n`);
    // The stack's sshPublicKey has no private half here: the lab authorizes its own key.
    fs.writeFileSync(
      path.join(ci, "authorized_keys"),
      (spec.cloudInit?.authorizedKeys ?? this.sshKey().publicKey) + "\n",
    );
    const key = path.join(ci, "ssh_host_ed25519_key");
    if (!fs.existsSync(key)) {
      const r = spawnSync(
        "ssh-keygen",
        ["-q", "-t", "ed25519", "-N", "", "-C", spec.name, "-f", key],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`${spec.name}: ssh-keygen: ${r.stderr}`);
    }
    fs.writeFileSync(path.join(ci, "50-cloud-init.yaml"), cloudInitNetplan(spec));
    for (const f of fs.readdirSync(ci)) if (f.endsWith(".link")) fs.rmSync(path.join(ci, f));
    spec.interfaces.forEach((ifc, i) => {
      fs.writeFileSync(
        path.join(ci, `10-lab-${ifc.ifname}.link`),
        `# The lab's image names its NICs by MAC, as an adopted host's admin did.\n[Match]\nMACAddress=${ifc.mac ?? macFor(spec.name, i)}\n\n[Link]\nName=${ifc.ifname}\n`,
      );
    });

    const disk = path.join(dir, "disk.img");
    if (!fs.existsSync(disk)) {
      fs.writeFileSync(disk, "");
      fs.truncateSync(disk, DISK_MB * 1024 * 1024);
      const r = spawnSync("mkfs.ext4", ["-q", "-F", "-L", "lab-disk", disk], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`${spec.name}: mkfs.ext4: ${r.stderr}`);
    }
  }

  /** The lab's SSH key pair (made once per lab): what the guests' cloud-init authorizes. */
  sshKey(): { privateKeyFile: string; publicKey: string } {
    const dir = path.join(this.stateDir, "ssh");
    const key = path.join(dir, "id_ed25519");
    if (!fs.existsSync(key)) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      const r = spawnSync(
        "ssh-keygen",
        ["-q", "-t", "ed25519", "-N", "", "-C", "maglev-lab", "-f", key],
        { encoding: "utf8" },
      );
      if (r.status !== 0) throw new Error(`ssh-keygen: ${r.stderr}`);
    }
    return { privateKeyFile: key, publicKey: fs.readFileSync(key + ".pub", "utf8").trim() };
  }

  /**
   * The operator's seat on `network` (default mgmt), made once: `ip netns add`, then
   * vde_plug2tap inside it, the given addresses on the tap. Returns how ssh reaches the guests,
   * with a known_hosts file of every systemd guest's host key at its first address.
   */
  async operator(ipv4: string, ipv6?: string, network = "mgmt"): Promise<LabSsh> {
    if (!this.file.operator || !alive(this.file.operator.tapPid)) {
      const sock = await this.ensureSwitch(network);
      const netns = `maglev-lab-${createHash("sha256").update(this.stateDir).digest("hex").slice(0, 8)}`;
      const ns = (args: string[]) => {
        const r = spawnSync("ip", ["netns", "exec", netns, ...args], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`${args.join(" ")} in ${netns}: ${r.stderr.trim()}`);
      };
      if (!fs.existsSync(`/run/netns/${netns}`)) {
        const r = spawnSync("ip", ["netns", "add", netns], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`ip netns add ${netns}: ${r.stderr.trim()}`);
      }
      // Recorded before the tap starts: down() removes the namespace even if the rest fails.
      this.file.operator = { netns, network, tapPid: 0, ipv4, ipv6 };
      this.save();
      const pidFile = path.join(this.stateDir, "sw", `${network}.operator.pid`);
      fs.rmSync(pidFile, { force: true });
      ns(["vde_plug2tap", "-d", "-P", pidFile, "-s", sock, "op0"]);
      let pid = 0;
      for (let i = 0; i < 250 && !pid; i++) {
        try {
          pid = Number(fs.readFileSync(pidFile, "utf8").trim()) || 0;
        } catch {
          await sleep(20);
        }
      }
      if (!pid) throw new Error(`vde_plug2tap in ${netns}: no pid after 5 s`);
      this.file.operator.tapPid = pid;
      this.save();
      ns(["ip", "link", "set", "lo", "up"]);
      ns(["ip", "link", "set", "op0", "up"]);
      ns(["ip", "addr", "add", ipv4, "dev", "op0"]);
      if (ipv6) ns(["ip", "-6", "addr", "add", ipv6, "dev", "op0", "nodad"]);
    }
    const dir = path.join(this.stateDir, "ssh");
    const knownHosts = path.join(dir, "known_hosts");
    const lines: string[] = [];
    for (const r of Object.values(this.file.nodes)) {
      if (r.spec.machine !== "systemd") continue;
      const pub = path.join(this.nodeDir(r.spec.name), "cloud-init", "ssh_host_ed25519_key.pub");
      if (!fs.existsSync(pub)) continue;
      const key = fs.readFileSync(pub, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
      for (const a of [r.spec.interfaces[0]?.ipv4, r.spec.interfaces[0]?.ipv6])
        if (a) lines.push(`${a.split("/")[0]} ${key}`);
    }
    fs.writeFileSync(knownHosts, lines.sort().join("\n") + "\n", { mode: 0o600 });
    return {
      prefix: ["ip", "netns", "exec", this.file.operator.netns],
      identityFile: this.sshKey().privateKeyFile,
      knownHostsFile: knownHosts,
    };
  }

  /** The seat made by `operator()`, if any (another process of this lab reads it). */
  operatorSeat(): OperatorSeat | undefined {
    return this.file.operator;
  }

  /**
   * How `ssh` reaches the systemd guests as `user` from the operator's seat (made at `up`):
   * the runner options of src/ops/runner.ts, as for a real environment, with the lab's key,
   * its known_hosts and the namespace prefix. Undefined without a seat.
   */
  sshOptions(user: string): SshRunnerOptions | undefined {
    const op = this.file.operator;
    if (!op) return undefined;
    const addresses = new Map<string, string>();
    for (const r of Object.values(this.file.nodes)) {
      const a = r.spec.interfaces[0]?.ipv4;
      if (r.spec.machine === "systemd" && a)
        addresses.set(r.spec.hostname ?? r.spec.name, a.split("/")[0]);
    }
    const dir = path.join(this.stateDir, "ssh");
    return {
      addresses,
      user,
      identityFile: path.join(dir, "id_ed25519"),
      knownHostsFile: path.join(dir, "known_hosts"),
      prefix: ["ip", "netns", "exec", op.netns],
    };
  }

  /** The login user of the systemd guests (their cloud-init user), if there are any. */
  loginUser(): string | undefined {
    const r = Object.values(this.file.nodes).find((n) => n.spec.machine === "systemd");
    return r ? (r.spec.cloudInit?.user ?? "root") : undefined;
  }

  /** How a node boots (`NodeSpec.machine`). */
  machineOf(node: string): "bash" | "systemd" {
    return this.current(node).spec.machine ?? "bash";
  }

  /** Forget a systemd guest's disk: its next start is a first boot (the guest must be stopped). */
  wipeDisk(node: string): void {
    const r = this.rec(node);
    if (r.state === "running" && alive(r.pid)) throw new Error(`${node} is running`);
    fs.rmSync(path.join(this.nodeDir(node), "disk.img"), { force: true });
  }

  /**
   * Set the host CPU niceness of a running guest: its process group (the kernel process and
   * every host process it forked for the guest's processes; new ones inherit it).
   */
  renice(node: string, nice: number): void {
    const r = this.rec(node);
    if (r.state !== "running" || !alive(r.pid)) return;
    spawnSync("renice", ["-n", String(nice), "-g", String(r.pid)], { stdio: "ignore" });
  }

  /** Boot a node's guest and wait until its agent answers. */
  async start(node: string, opts: { timeoutMs?: number } = {}): Promise<BootInfo> {
    const r = this.rec(node);
    if (r.state === "running" && alive(r.pid)) throw new Error(`${node} is already running`);
    const spec = r.spec;
    const dir = this.prepareNodeDir(spec);
    const nets: string[] = [];
    for (const [i, ifc] of spec.interfaces.entries()) {
      const sock = await this.ensureSwitch(ifc.network);
      nets.push(`eth${i}=vde,${sock},${ifc.mac ?? macFor(node, i)}`);
    }
    const umlDir = path.join(this.stateDir, "uml");
    fs.rmSync(path.join(umlDir, node), { recursive: true, force: true });
    const systemd = spec.machine === "systemd";
    const args = [
      `mem=${spec.memMB ?? 128}M`,
      "rootfstype=hostfs",
      "rootflags=/",
      "ro",
      "quiet",
      // CONFIG_DUMMY=y would otherwise create a stray dummy0 in every guest.
      "dummy.numdummies=0",
      ...(systemd
        ? [`init=${path.join(dir, "preinit.sh")}`, `ubd0=${path.join(dir, "disk.img")}`]
        : [`init=${path.join(dir, "init.sh")}`]),
      `labdir=${dir}`,
      `umid=${node}`,
      `uml_dir=${umlDir}`,
      "con=null",
      "con0=fd:0,fd:1",
      ...nets,
    ];
    const log = fs.openSync(path.join(dir, "console.log"), "w");
    const t0 = Date.now();
    // detached → setsid: the guest and all its host helper processes share one process
    // group whose id is this PID, so down() can kill exactly them.
    // `nice` execs the kernel: the PID stays the guest's.
    const [cmd, argv] = spec.nice
      ? ["nice", ["-n", String(spec.nice), this.file.kernel, ...args]]
      : [this.file.kernel, args];
    const child = spawn(cmd, argv, { detached: true, stdio: ["ignore", log, log] });
    fs.closeSync(log);
    child.unref();
    const pid = child.pid;
    if (!pid) throw new Error(`${node}: spawn failed`);
    r.pid = pid;
    r.state = "running";
    r.readyMs = undefined;
    this.save();

    return this.waitBooted(node, pid, t0, opts.timeoutMs ?? 60_000);
  }

  /** Wait until a booting guest's agent answers and, in a systemd guest, boot has finished. */
  private async waitBooted(
    node: string,
    pid: number,
    t0: number,
    timeoutMs: number,
  ): Promise<BootInfo> {
    const r = this.rec(node);
    const spec = r.spec;
    const dir = this.nodeDir(node);
    const ready = path.join(dir, "ready");
    const deadline = t0 + timeoutMs;
    while (!fs.existsSync(ready)) {
      if (!alive(pid)) {
        r.state = "stopped";
        this.save();
        throw new Error(`${node}: guest exited during boot; console:\n${this.consoleTail(node)}`);
      }
      if (Date.now() > deadline)
        throw new Error(
          `${node}: not ready after ${timeoutMs} ms; console:\n${this.consoleTail(node)}`,
        );
      await sleep(20);
    }
    if (spec.machine === "systemd") {
      // The agent starts early; a VM is reachable (SSH, the apply's waits) once boot is done.
      const left = Math.max(5_000, deadline - Date.now());
      const b = await this.exec(
        node,
        `timeout ${Math.ceil(left / 1000)} systemctl is-system-running --wait; systemctl --failed --no-legend --plain | cut -d' ' -f1`,
        { timeoutMs: left + 5_000 },
      );
      const fb = path.join(dir, "first-boot.failed");
      if (fs.existsSync(fb))
        throw new Error(`${node}: first boot failed: ${fs.readFileSync(fb, "utf8").trim()}`);
      const state = b.stdout.split("\n")[0]?.trim();
      if (state !== "running" && state !== "degraded")
        throw new Error(
          `${node}: boot did not finish (${state || b.stderr.trim()}); console:\n${this.consoleTail(node)}`,
        );
      r.bootState = b.stdout.trim().split("\n").join(" ");
    }
    const readyMs = Date.now() - t0;
    r.readyMs = readyMs;
    this.save();
    let guestUptime = NaN;
    for (let i = 0; i < 10 && Number.isNaN(guestUptime); i++) {
      guestUptime = parseFloat(fs.readFileSync(ready, "utf8")) || NaN;
      if (Number.isNaN(guestUptime)) await sleep(10);
    }
    return { node, pid, readyMs, guestUptime };
  }

  /**
   * A clean reboot: `systemctl start reboot.target` in a systemd guest (what `systemctl reboot`
   * does; it asks logind first, which the guests mask), and UML re-executes its kernel in the
   * same process with the same disk; a bash guest is stopped cleanly and started again.
   */
  async reboot(node: string, opts: { timeoutMs?: number } = {}): Promise<BootInfo> {
    const r = this.current(node);
    if (r.state !== "running" || !alive(r.pid)) throw new Error(`${node} is not running`);
    const dir = this.nodeDir(node);
    if (r.spec.machine !== "systemd") {
      fs.writeFileSync(path.join(dir, "in", "STOP"), "");
      const until = Date.now() + 30_000;
      while (alive(r.pid) && Date.now() < until) await sleep(50);
      if (alive(r.pid)) await this.stop(node);
      r.state = "stopped";
      this.save();
      return this.start(node, opts);
    }
    fs.rmSync(path.join(dir, "ready"), { force: true });
    const t0 = Date.now();
    const x = await this.exec(
      node,
      "systemctl --no-block --job-mode=replace-irreversibly start reboot.target",
      { timeoutMs: 30_000 },
    );
    if (x.code !== 0) throw new Error(`${node}: reboot refused: ${x.stderr.trim()}`);
    // Results of the old boot must not be read as the new one's.
    for (const d of ["in", "out"])
      for (const f of fs.readdirSync(path.join(dir, d)))
        fs.rmSync(path.join(dir, d, f), { force: true });
    // UML re-executes its kernel on a reboot (same PID, same disk), but in the lab that
    // process sometimes exits after "reboot: Restarting system" instead (seen once in 9): then
    // the lab boots it again from the same disk, as a hypervisor restarts a VM that rebooted.
    const until = t0 + (opts.timeoutMs ?? 120_000);
    while (!fs.existsSync(path.join(dir, "ready")) && alive(r.pid) && Date.now() < until)
      await sleep(100);
    if (!alive(r.pid)) {
      r.state = "stopped";
      r.pid = undefined;
      this.save();
      return this.start(node, { timeoutMs: Math.max(30_000, until - Date.now()) });
    }
    return this.waitBooted(node, r.pid!, t0, opts.timeoutMs ?? 120_000);
  }

  /** Boot several nodes in parallel (all defined nodes by default). */
  async startAll(nodes: string[] = Object.keys(this.file.nodes)): Promise<BootInfo[]> {
    // Switches first, sequentially: parallel starts must not race on one switch.
    for (const n of nodes)
      for (const i of this.rec(n).spec.interfaces) await this.ensureSwitch(i.network);
    return Promise.all(nodes.map((n) => this.start(n)));
  }

  consoleTail(node: string, lines = 30): string {
    try {
      return fs
        .readFileSync(path.join(this.nodeDir(node), "console.log"), "utf8")
        .split("\n")
        .slice(-lines)
        .join("\n");
    } catch {
      return "(no console log)";
    }
  }

  /** Run a bash script in the guest (cwd /, PATH has /run/lab/bin first). */
  async exec(node: string, script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = this.current(node);
    if (r.state !== "running") throw new Error(`${node} is not running`);
    const dir = this.nodeDir(node);
    const id = `${Date.now().toString(36)}-${(this.seq++).toString(36)}-${randomBytes(3).toString("hex")}`;
    const inSh = path.join(dir, "in", `${id}.sh`);
    const out = (ext: string) => path.join(dir, "out", `${id}.${ext}`);
    const t0 = Date.now();
    const stdinFile = path.join(dir, "in", `${id}.stdin`);
    if (opts.stdin !== undefined) {
      fs.writeFileSync(stdinFile, opts.stdin, { mode: 0o600 });
      script = `exec 0<'/run/lab/in/${id}.stdin'\n${script}`;
    }
    // tmp + rename: the agent never sees half a script.
    fs.writeFileSync(path.join(dir, "in", `${id}.tmp`), script);
    fs.renameSync(path.join(dir, "in", `${id}.tmp`), inSh);
    const timeoutMs = opts.timeoutMs ?? 60_000;
    let code: number | undefined;
    let lastAliveCheck = t0;
    for (;;) {
      try {
        // The agent writes the rc in one write: empty means "not yet".
        const rc = fs.readFileSync(out("rc"), "utf8");
        if (/^\d+\n$/.test(rc)) {
          code = Number(rc.trim());
          break;
        }
      } catch {
        /* not there yet */
      }
      const now = Date.now();
      if (now - t0 > timeoutMs) break;
      if (now - lastAliveCheck > 500) {
        lastAliveCheck = now;
        if (!alive(r.pid)) break;
      }
      await sleep(now - t0 < 1000 ? 5 : 25);
    }
    if (code === undefined) {
      fs.writeFileSync(path.join(dir, "in", `${id}.kill`), "");
      await sleep(200);
    }
    const read = (ext: string) => {
      try {
        return fs.readFileSync(out(ext), "utf8");
      } catch {
        return "";
      }
    };
    const res: ExecResult = {
      stdout: read("out"),
      stderr:
        read("err") +
        (code === undefined
          ? alive(r.pid)
            ? `\n[lab] timeout after ${timeoutMs} ms`
            : `\n[lab] guest ${node} is gone`
          : ""),
      code: code ?? 124,
      ms: Date.now() - t0,
    };
    for (const p of [
      inSh,
      stdinFile,
      path.join(dir, "in", `${id}.kill`),
      out("out"),
      out("err"),
      out("rc"),
    ])
      fs.rmSync(p, { force: true });
    return res;
  }

  /** exec that throws on a non-zero exit, with the script's stderr in the message. */
  async run(node: string, script: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(node, script, opts);
    if (r.code !== 0)
      throw new Error(`${node}: exit ${r.code}: ${script.slice(0, 200)}\n${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /**
   * Write files into the guest via the shared dir: staged on the host, then one exec
   * installs them all (`install` to a temp name next to the target, then an atomic `mv`).
   */
  async writeFiles(node: string, files: FileToWrite[], opts: ExecOptions = {}): Promise<void> {
    if (files.length === 0) return;
    const dir = this.nodeDir(node);
    const lines = ["set -e"];
    const staged: string[] = [];
    for (const f of files) {
      const name = `${Date.now().toString(36)}-${(this.seq++).toString(36)}-${randomBytes(3).toString("hex")}`;
      const host = path.join(dir, "xfer", name);
      fs.writeFileSync(host, f.content);
      staged.push(host);
      const [user, group] = (f.owner ?? "root:root").split(":");
      const tmp = `${f.path}.lab-new`;
      lines.push(
        `install -D -m ${f.mode ?? "0644"} -o ${shellWord(user)} -g ${shellWord(group ?? user)} /run/lab/xfer/${name} ${shellWord(tmp)}`,
        `mv -f ${shellWord(tmp)} ${shellWord(f.path)}`,
      );
    }
    try {
      await this.run(node, lines.join("\n"), opts);
    } finally {
      for (const p of staged) fs.rmSync(p, { force: true });
    }
  }

  async writeFile(
    node: string,
    filePath: string,
    content: string,
    mode = "0644",
    owner = "root:root",
  ): Promise<void> {
    return this.writeFiles(node, [{ path: filePath, content, mode, owner }]);
  }

  /** Power cut: uml_mconsole halt (no shutdown path runs in the guest), then wait for exit. */
  async stop(node: string): Promise<void> {
    const r = this.rec(node);
    if (r.pid && alive(r.pid)) {
      const sock = path.join(this.stateDir, "uml", node, "mconsole");
      spawnSync("uml_mconsole", [sock, "halt"], { encoding: "utf8", timeout: 5000 });
      const deadline = Date.now() + 10_000;
      while (alive(r.pid) && Date.now() < deadline) await sleep(25);
      if (alive(r.pid)) this.killGroup(r.pid);
      while (alive(r.pid) && Date.now() < deadline + 5000) await sleep(25);
    }
    r.state = "stopped";
    r.pid = undefined;
    this.save();
  }

  private killGroup(pid: number): void {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }

  /** Kill every guest and switch this lab started (by PID), remove the state dir. */
  async down(): Promise<{ leftovers: string[] }> {
    const pids: number[] = [];
    for (const r of Object.values(this.file.nodes)) {
      if (r.pid && alive(r.pid)) {
        this.killGroup(r.pid);
        pids.push(r.pid);
      }
    }
    const op = this.file.operator;
    if (op && alive(op.tapPid)) {
      try {
        process.kill(op.tapPid, "SIGTERM");
      } catch {
        /* gone */
      }
      pids.push(op.tapPid);
    }
    for (const pid of Object.values(this.file.switches)) {
      if (alive(pid)) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          /* gone */
        }
        pids.push(pid);
      }
    }
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) await sleep(25);
    for (const pid of Object.values(this.file.switches)) if (alive(pid)) this.killGroup(pid);
    if (op && alive(op.tapPid)) this.killGroup(op.tapPid);
    // Only the namespace this lab made (its name is recorded in lab.json).
    if (op && fs.existsSync(`/run/netns/${op.netns}`))
      spawnSync("ip", ["netns", "del", op.netns], { stdio: "ignore" });
    await sleep(50);
    // ssh clients of this lab (its own key on their command line) outlive a failed run whose
    // process exited mid-apply; they would wait for their keepalive timeout: end them.
    const key = path.join(this.stateDir, "ssh", "id_ed25519");
    for (const e of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const argv = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0");
        if (argv[0] === "ssh" && argv.includes(key)) process.kill(Number(e), "SIGTERM");
      } catch {
        /* exited meanwhile */
      }
    }
    await sleep(100);
    const leftovers = this.leftovers();
    if (op && fs.existsSync(`/run/netns/${op.netns}`)) leftovers.push(`netns ${op.netns}`);
    if (leftovers.length === 0) fs.rmSync(this.stateDir, { recursive: true, force: true });
    return {
      leftovers: fs.existsSync(this.stateDir) ? [...leftovers, `dir ${this.stateDir}`] : leftovers,
    };
  }

  /**
   * Processes still referring to this lab: any process whose command line mentions the
   * state dir (UML helpers carry the kernel's argv). Read-only: for reporting, never for killing.
   */
  leftovers(): string[] {
    const found: string[] = [];
    for (const e of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
      try {
        const cmd = fs.readFileSync(`/proc/${e}/cmdline`, "utf8").replace(/\0/g, " ");
        if (cmd.includes(this.stateDir + "/") && alive(Number(e)))
          found.push(`pid ${e}: ${cmd.slice(0, 120)}`);
      } catch {
        /* exited meanwhile */
      }
    }
    return found;
  }

  status(): LabStatus {
    return {
      stateDir: this.stateDir,
      kernel: this.file.kernel,
      switches: Object.entries(this.file.switches).map(([network, pid]) => ({
        network,
        pid,
        alive: alive(pid),
      })),
      nodes: Object.entries(this.file.nodes).map(([name, r]) => ({
        name,
        state: r.state === "running" && !alive(r.pid) ? "stopped" : r.state,
        pid: r.pid,
        alive: alive(r.pid),
        readyMs: r.readyMs,
        memMB: r.spec.memMB ?? 128,
      })),
    };
  }
}
