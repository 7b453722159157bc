/**
 * The Lab class: the state file (lab.json: every PID the lab started, every node's spec and
 * state) and what follows from owning those PIDs — start, stop, reboot, `down()`, status. Its
 * methods delegate the work to boot.ts, machine.ts, exec.ts, switches.ts and ssh.ts.
 *
 * About 500 lines, one class, on purpose: every method here reads or writes the records of
 * lab.json, which stay private to it (one writer of the state file); what remains in each is
 * the order of record, save and spawn that `down()` from another process relies on.
 */
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { SshRunnerOptions } from "../../src/ops/runner";
import {
  kernelCommandLine,
  labKernelPath,
  macFor,
  modulesDirFor,
  prepareBashGuest,
  prepareNodeDir,
} from "./boot";
import { execInGuest, jobId, writeFilesInGuest } from "./exec";
import { prepareSystemd, waitSystemdBooted } from "./machine";
import { DEFAULT_STATE_DIR, LAB_SRC, nodeDirOf } from "./paths";
import { alive, endSshClients, killGroup, processesMentioning, sleep } from "./proc";
import { labSshKey, sshOptionsFor, writeKnownHosts } from "./ssh";
import {
  addNetns,
  addressOperatorTap,
  operatorNetns,
  startOperatorTap,
  startSwitch,
  switchSocket,
} from "./switches";
import type {
  BootInfo,
  ExecOptions,
  ExecResult,
  FileToWrite,
  LabFile,
  LabOptions,
  LabSsh,
  LabStatus,
  NodeRecord,
  NodeSpec,
  OperatorSeat,
} from "./types";

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
    return nodeDirOf(this.stateDir, node);
  }

  /**
   * The node's record, re-read from lab.json when the guest we know of is not running: another
   * Lab of this lab (the reboot of `ops maintain --lab`, a scenario's restore) may have
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
    const sock = switchSocket(this.stateDir, network);
    if (alive(this.file.switches[network])) return sock;
    this.file.switches[network] = await startSwitch(sock, network);
    this.save();
    return sock;
  }

  /** Write the node dir: everything init.sh reads, the agent dirs, the guest's bin/. */
  private prepareNodeDir(spec: NodeSpec): string {
    const dir = this.nodeDir(spec.name);
    const nodes = Object.values(this.file.nodes).map((r) => r.spec);
    prepareNodeDir(dir, spec, nodes, this.file.modules);
    if (spec.machine === "systemd")
      prepareSystemd(dir, spec, this.file.modules, () => this.sshKey().publicKey);
    else prepareBashGuest(dir);
    return dir;
  }

  /** The lab's SSH key pair (made once per lab): what the guests' cloud-init authorizes. */
  sshKey(): { privateKeyFile: string; publicKey: string } {
    return labSshKey(this.stateDir);
  }

  /**
   * The operator's seat on `network` (default mgmt), made once: `ip netns add`, then
   * vde_plug2tap inside it, the given addresses on the tap. Returns how ssh reaches the guests,
   * with a known_hosts file of every systemd guest's host key at its first address.
   */
  async operator(ipv4: string, ipv6?: string, network = "mgmt"): Promise<LabSsh> {
    if (!this.file.operator || !alive(this.file.operator.tapPid)) {
      const sock = await this.ensureSwitch(network);
      const netns = operatorNetns(this.stateDir);
      addNetns(netns);
      // Recorded before the tap starts: down() removes the namespace even if the rest fails.
      this.file.operator = { netns, network, tapPid: 0, ipv4, ipv6 };
      this.save();
      this.file.operator.tapPid = await startOperatorTap(this.stateDir, netns, network, sock);
      this.save();
      addressOperatorTap(netns, ipv4, ipv6);
    }
    const knownHosts = writeKnownHosts(
      this.stateDir,
      Object.values(this.file.nodes).map((r) => r.spec),
    );
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
    const nodes = Object.values(this.file.nodes).map((r) => r.spec);
    return sshOptionsFor(this.stateDir, nodes, op.netns, user);
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
    const args = kernelCommandLine(spec, dir, umlDir, nets);
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
    if (spec.machine === "systemd")
      r.bootState = await waitSystemdBooted(
        node,
        dir,
        deadline,
        (script, opts) => this.exec(node, script, opts),
        () => this.consoleTail(node),
      );
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
   * same process with the same disk; a lab-only node (bash init) is stopped cleanly and started
   * again.
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

  /** Run a bash script in the guest as root, through its exec agent (cwd /). */
  async exec(node: string, script: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const r = this.current(node);
    if (r.state !== "running") throw new Error(`${node} is not running`);
    const id = jobId(this.seq++);
    return execInGuest(this.nodeDir(node), node, id, script, opts, () => alive(r.pid));
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
    await writeFilesInGuest(
      this.nodeDir(node),
      files,
      () => jobId(this.seq++),
      (script) => this.run(node, script, opts),
    );
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
      if (alive(r.pid)) killGroup(r.pid);
      while (alive(r.pid) && Date.now() < deadline + 5000) await sleep(25);
    }
    r.state = "stopped";
    r.pid = undefined;
    this.save();
  }

  /** Kill every guest and switch this lab started (by PID), remove the state dir. */
  async down(): Promise<{ leftovers: string[] }> {
    const pids: number[] = [];
    for (const r of Object.values(this.file.nodes)) {
      if (r.pid && alive(r.pid)) {
        killGroup(r.pid);
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
    for (const pid of Object.values(this.file.switches)) if (alive(pid)) killGroup(pid);
    if (op && alive(op.tapPid)) killGroup(op.tapPid);
    // Only the namespace this lab made (its name is recorded in lab.json).
    if (op && fs.existsSync(`/run/netns/${op.netns}`))
      spawnSync("ip", ["netns", "del", op.netns], { stdio: "ignore" });
    await sleep(50);
    // ssh clients of this lab (its own key on their command line) outlive a failed run whose
    // process exited mid-apply; they would wait for their keepalive timeout: end them.
    endSshClients(path.join(this.stateDir, "ssh", "id_ed25519"));
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
    return processesMentioning(this.stateDir + "/");
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
