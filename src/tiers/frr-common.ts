/**
 * What the gateways (bgpd + bfdd) and the maglevs (bfdd only) share about FRR 8.4: the
 * daemons file, the preamble of frr.conf, BFD profiles, and FRR's checker.
 *
 * Both files are self-contained: a host started by hand (the lab runs
 * `/usr/lib/frr/frrinit.sh start` without systemd) reads exactly what `pulumi up` installs.
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { header } from "../plan/header";
import { FileVariant, Validate } from "../plan/types";
import { Environment } from "../config/schema";
import { frrWord } from "../escape";

export const FRR_CONF = "/etc/frr/frr.conf";
export const FRR_DAEMONS = "/etc/frr/daemons";

/**
 * FRR's checker, in two passes, because neither alone fails on every broken file:
 *  1. `vtysh --dryrun` parses the file against every daemon's command tree and exits non-zero
 *     on an unknown or malformed command. It does not run the commands, so it accepts e.g.
 *     `neighbor X peer-group G` for a group G never defined.
 *  2. `bgpd --dryrun` runs the commands for real, but always exits 0 and only logs. Any
 *     logged error ("[EC …]": a command that parsed but failed, a file it cannot open) is made
 *     a failure, except "No such command": those are other daemons' commands, which pass 1
 *     checked. bgpd reads a copy without the `bfd` block and the vtysh-only line (after a
 *     command it does not know, the rest of its parse is meaningless), in a directory it can
 *     read after dropping to the frr user.
 */
export const FRR_VALIDATE: Validate = {
  checker: "vtysh",
  command:
    'vtysh --dryrun -f {file} || exit 1; d=$(mktemp -d) && chmod 755 "$d" || exit 1; ' +
    "sed -e '/^bfd$/,/^exit$/d' -e '/^service integrated-vtysh-config$/d' {file} > \"$d/bgpd.conf\" && chmod 644 \"$d/bgpd.conf\"; " +
    "out=$(/usr/lib/frr/bgpd --dryrun -f \"$d/bgpd.conf\" 2>&1 | grep -E '\\[EC [0-9]+\\]' | grep -vF 'No such command'); rm -rf \"$d\"; " +
    'if [ -n "$out" ]; then printf \'%s\\n\' "$out"; exit 1; fi',
};

/** The daemons file is a shell fragment that frrinit.sh sources. */
export const DAEMONS_VALIDATE: Validate = { checker: "bash", command: "bash -n {file}" };

/** Every daemon the daemons file knows, in the order of Debian's file. */
const ALL_DAEMONS = [
  "bgpd",
  "ospfd",
  "ospf6d",
  "ripd",
  "ripngd",
  "isisd",
  "pimd",
  "pim6d",
  "ldpd",
  "nhrpd",
  "eigrpd",
  "babeld",
  "sharpd",
  "pbrd",
  "bfdd",
  "fabricd",
  "vrrpd",
  "pathd",
] as const;
export type FrrDaemon = (typeof ALL_DAEMONS)[number];

/** /etc/frr/daemons: zebra and staticd always run (frrinit.sh starts them regardless); `enabled` on top. */
export function frrDaemons(env: Environment, h: HostFacts, enabled: FrrDaemon[]): string {
  const on = new Set(enabled);
  const lines = [
    header(env.name, "#", `FRR daemons of ${h.hostname}`).trimEnd(),
    "#",
    `# zebra and staticd always run. Enabled here: ${enabled.join(", ")}.`,
    ...ALL_DAEMONS.map((d) => `${d}=${on.has(d) ? "yes" : "no"}`),
    "",
    "vtysh_enable=yes",
    // Every daemon's vty on localhost only; zebra's netlink buffer sized for a full table.
    'zebra_options="  -A 127.0.0.1 -s 90000000"',
    'bgpd_options="   -A 127.0.0.1"',
    'staticd_options="-A 127.0.0.1"',
    'bfdd_options="   -A 127.0.0.1"',
    "",
  ];
  return lines.join("\n");
}

/** The first lines of frr.conf, after the header. */
export function frrPreamble(env: Environment, h: HostFacts, what: string): string[] {
  return [
    ...header(env.name, "!", `${what} of ${h.hostname}`).trimEnd().split("\n"),
    "!",
    "frr defaults traditional",
    `hostname ${frrWord(h.hostname, `hostname of ${h.name}`)}`,
    "log syslog informational",
    "service integrated-vtysh-config",
    "!",
  ];
}

/** A BFD profile with the stack's timers. Lines indented for inside `bfd`. */
export function bfdProfile(name: string, bfd: Environment["bgp"]["bfd"]): string[] {
  return [
    ` profile ${name}`,
    `  transmit-interval ${bfd.transmitIntervalMs}`,
    `  receive-interval ${bfd.receiveIntervalMs}`,
    `  detect-multiplier ${bfd.detectMultiplier}`,
    " exit",
  ];
}

/** Detection time in ms, for comments: the slower side's interval × multiplier. */
export function bfdDetectMs(bfd: Environment["bgp"]["bfd"]): number {
  return Math.max(bfd.transmitIntervalMs, bfd.receiveIntervalMs) * bfd.detectMultiplier;
}

/**
 * FRR on a host: packages, the two files, the service. `frr-pythontools` carries
 * frr-reload.py, which `systemctl reload frr` runs to apply only the difference.
 * `afterReload` runs after every reload or restart of FRR by the apply (a gateway re-applies
 * an operator's site drain there).
 */
export function planFrr(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  daemons: FrrDaemon[],
  conf: string,
  variants?: FileVariant[],
): void {
  b.package("frr", "frr-pythontools");
  b.service("frr");
  b.file({
    path: FRR_DAEMONS,
    mode: "0640",
    owner: "frr:frr",
    content: frrDaemons(topo.env, h, daemons),
    validate: DAEMONS_VALIDATE,
    // Which daemons run is only read at start.
    activate: { kind: "restart", service: "frr" },
  });
  b.file({
    path: FRR_CONF,
    mode: "0640",
    owner: "frr:frr",
    content: conf,
    validate: FRR_VALIDATE,
    // frr-reload.py: applies the difference, sessions stay up.
    activate: { kind: "reload", service: "frr" },
    ...(variants ? { variants } : {}),
  });
}
