/**
 * The systemd guest: a fresh Debian cloud VM as Proxmox makes one (lab/machine/) — its disk,
 * the first-boot data cloud-init would bring, and the runtime-only units that make systemd
 * boot in a User-Mode Linux guest in seconds.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { fstab1, macFor } from "./boot";
import { MACHINE_SRC } from "./paths";
import type { ExecOptions, ExecResult, NodeSpec } from "./types";

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

/** Proxmox's cloud-init drive gives the first NIC its address and default routes (netplan v2). */
export function cloudInitNetplan(spec: NodeSpec): string {
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
    "# What cloud-init writes on a VM's first boot (lab/guest/machine.ts, lab only).\n" +
    YAML.stringify({ network: { version: 2, ethernets: { [m.ifname]: eth } } })
  );
}

/**
 * The node dir of a systemd guest (lab/machine/preinit.sh reads it): mounts with the disk's
 * upper layers, the first-boot data cloud-init would bring, the runtime-only lab units.
 * The disk and the SSH host key are made once and kept: a restart is a reboot.
 * `labPublicKey`: the lab's own key, asked for only when the spec brings none.
 */
export function prepareSystemd(
  dir: string,
  spec: NodeSpec,
  modules: string,
  labPublicKey: () => string,
): void {
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
      `${modules} /usr/lib/modules none bind,X-mount.mkdir 0 0`,
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
    (spec.cloudInit?.authorizedKeys ?? labPublicKey()) + "\n",
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

/**
 * After the agent answers: wait (until `deadline`) for systemd to finish booting, as a VM is
 * reachable (SSH, the apply's waits) once boot is done. Returns `systemctl is-system-running`
 * and the failed units; throws if the first boot failed or boot did not finish.
 */
export async function waitSystemdBooted(
  node: string,
  dir: string,
  deadline: number,
  exec: (script: string, opts: ExecOptions) => Promise<ExecResult>,
  consoleTail: () => string,
): Promise<string> {
  const left = Math.max(5_000, deadline - Date.now());
  const b = await exec(
    `timeout ${Math.ceil(left / 1000)} systemctl is-system-running --wait; systemctl --failed --no-legend --plain | cut -d' ' -f1`,
    { timeoutMs: left + 5_000 },
  );
  const fb = path.join(dir, "first-boot.failed");
  if (fs.existsSync(fb))
    throw new Error(`${node}: first boot failed: ${fs.readFileSync(fb, "utf8").trim()}`);
  const state = b.stdout.split("\n")[0]?.trim();
  if (state !== "running" && state !== "degraded")
    throw new Error(
      `${node}: boot did not finish (${state || b.stderr.trim()}); console:\n${consoleTail()}`,
    );
  return b.stdout.trim().split("\n").join(" ");
}
