/**
 * Booting a guest: the kernel (lab/kernel.sh's build, its modules), the node dir every guest
 * reads at boot (mounts, hosts, interfaces, the agent; a bash guest's init and FRR script) and
 * the UML kernel command line. The systemd guest's own part of the node dir: machine.ts.
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { shellWord } from "../../src/escape";
import { LAB_SRC, MACHINE_SRC } from "./paths";
import type { NodeSpec } from "./types";

/** Path of the lab kernel as lab/kernel.sh computes it (exists or not). */
export function labKernelPath(): { path: string; built: boolean } {
  const r = spawnSync(path.join(LAB_SRC, "kernel.sh"), ["--path"], { encoding: "utf8" });
  const p = r.stdout.trim();
  return { path: p, built: r.status === 0 && p !== "" };
}

/** Host directory holding `<release>/` module trees for a kernel binary. */
export function modulesDirFor(kernel: string): string {
  const built = path.join(path.dirname(kernel), "modules", "lib", "modules");
  if (fs.existsSync(built)) return built;
  // The stock Debian UML kernel.
  return "/usr/lib/uml/modules";
}

/** The first mounts of a guest's init: API file systems, tmpfs /run, the node dir on /run/lab. */
export function fstab1(dir: string, more: string[] = []): string {
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

/** A stable locally administered MAC for NIC `index` of `node`. */
export function macFor(node: string, index: number): string {
  const h = createHash("sha256").update(node).digest();
  const b = [0x02, h[0], h[1], h[2], h[3], index & 0xff];
  return b.map((x) => x.toString(16).padStart(2, "0")).join(":");
}

/**
 * Write the part of the node dir every guest reads (lab/init.sh, lab/machine/preinit.sh): the
 * agent dirs, mounts, hostname, /etc/hosts of all `nodes`, the interfaces, the agent itself.
 */
export function prepareNodeDir(
  dir: string,
  spec: NodeSpec,
  nodes: NodeSpec[],
  modules: string,
): void {
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
      `${modules} /usr/lib/modules none bind,X-mount.mkdir 0 0`,
    ].join("\n") + "\n",
  );
  fs.writeFileSync(path.join(dir, "hostname"), (spec.hostname ?? spec.name) + "\n");

  const hosts = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"];
  for (const s of nodes) {
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
}

/** The rest of a lab-only node's node dir: lab/init.sh as its init, lab/lab-frr.sh. */
export function prepareBashGuest(dir: string): void {
  // The guest runs copies, so edits in the repo never change a running guest.
  fs.copyFileSync(path.join(LAB_SRC, "init.sh"), path.join(dir, "init.sh"));
  fs.chmodSync(path.join(dir, "init.sh"), 0o755);
  // /run/lab/bin/lab-frr in the guest (lab/lab-frr.ts): the routers' FRR.
  const frr = path.join(dir, "bin", "lab-frr");
  fs.copyFileSync(path.join(LAB_SRC, "lab-frr.sh"), frr);
  fs.chmodSync(frr, 0o755);
}

/**
 * The UML kernel command line of a guest: memory, this machine's root read-only over hostfs,
 * its init (a systemd guest's pre-init and disk), the node dir, the console, one NIC per `nets`.
 */
export function kernelCommandLine(
  spec: NodeSpec,
  dir: string,
  umlDir: string,
  nets: string[],
): string[] {
  const node = spec.name;
  const systemd = spec.machine === "systemd";
  return [
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
}
