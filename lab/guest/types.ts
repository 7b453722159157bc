/**
 * The lab's data: node specs as callers declare them, what the host API returns, and what
 * lab.json records (`LabFile`, `NodeRecord`: internal to lab/guest/, not re-exported).
 */

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

export interface NodeRecord {
  spec: NodeSpec;
  state: NodeState;
  pid?: number;
  readyMs?: number;
  /** systemd guests: `systemctl is-system-running` after boot, and the failed units. */
  bootState?: string;
}

export interface LabFile {
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
