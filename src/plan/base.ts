/**
 * The base plan every host gets: hostname, /etc/hosts, the mgmt and ingress0 network
 * (netplan, interfaces named by MAC), node_exporter on the mgmt address. Plus the `vip`
 * dummy interface helper the VIP-carrying tiers use.
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "./builder";
import { header } from "./header";
import { plainWord, systemdValue, yamlDocument } from "../escape";
import { TEXTFILE_DIR } from "../monitoring/metrics";

export const NETPLAN_FILE = "/etc/netplan/60-maglev-infra.yaml";

/** netplan has a real checker: `netplan generate` into a scratch root. */
export const NETPLAN_VALIDATE = {
  checker: "netplan",
  command:
    'd=$(mktemp -d) && mkdir -p "$d/etc/netplan" && cp {file} "$d/etc/netplan/60-maglev-infra.yaml" && chmod 600 "$d/etc/netplan/60-maglev-infra.yaml" && ' +
    'netplan generate --root-dir "$d"; rc=$?; rm -rf "$d"; exit $rc',
};

function prefixLen(cidr: string): string {
  return cidr.split("/")[1];
}

export function netplanConfig(topo: Topology, h: HostFacts): string {
  const n = topo.env.networks;
  const { mgmt: mgmtIf, ingress: ingressIf } = topo.interfaces;
  const ethernets: Record<string, unknown> = {};
  // VMs this stack creates get known MACs: name the NICs by MAC. An adopted host keeps its
  // own NICs, which must already carry these names.
  const byMac = h.provider === "proxmox";
  const mgmt: Record<string, unknown> = {
    ...(byMac ? { match: { macaddress: h.macs.mgmt }, "set-name": mgmtIf } : {}),
    mtu: n.mgmt.mtu,
    "accept-ra": false,
    addresses: [
      `${h.mgmt.ipv4}/${prefixLen(n.mgmt.ipv4)}`,
      `${h.mgmt.ipv6}/${prefixLen(n.mgmt.ipv6)}`,
    ],
  };
  const routes: { to: string; via: string }[] = [];
  if (n.mgmt.gateway4) routes.push({ to: "default", via: n.mgmt.gateway4 });
  if (n.mgmt.gateway6) routes.push({ to: "default", via: n.mgmt.gateway6 });
  if (routes.length) mgmt.routes = routes;
  if (topo.env.dns.resolvers.length)
    mgmt.nameservers = { addresses: topo.env.dns.resolvers, search: [topo.env.dns.zone] };
  ethernets[mgmtIf] = mgmt;
  if (h.ingress) {
    const addrs = [`${h.ingress.ipv4}/${prefixLen(n.ingress.ipv4)}`];
    if (h.ingress.ipv6) addrs.push(`${h.ingress.ipv6}/${prefixLen(n.ingress.ipv6)}`);
    ethernets[ingressIf] = {
      ...(byMac ? { match: { macaddress: h.macs.ingress }, "set-name": ingressIf } : {}),
      mtu: n.ingress.mtu,
      // No router advertisements on the data plane: addresses and routes come from the stack only.
      "accept-ra": false,
      addresses: addrs,
    };
  }
  const doc = { network: { version: 2, renderer: "networkd", ethernets } };
  return (
    header(topo.env.name, "#", `network of ${h.hostname}`) +
    yamlDocument(doc, `netplan of ${h.name}`)
  );
}

export function basePlan(topo: Topology, h: HostFacts, b: PlanBuilder): void {
  const env = topo.env;
  b.package("prometheus-node-exporter", "netplan.io");
  b.service("prometheus-node-exporter", "systemd-networkd");
  const hostname = plainWord(h.hostname, `hostname of ${h.name} (hostnamePrefix + hosts[].name)`);
  const fqdn = plainWord(`${h.hostname}.${env.dns.zone}`, "dns.zone");
  b.file({
    path: "/etc/hostname",
    content: `${hostname}\n`,
    activate: { kind: "command", command: "hostname -F /etc/hostname" },
  });
  // Own name on the mgmt addresses: daemons that resolve their own name (ExaBGP's getfqdn)
  // must not wait on DNS.
  b.file({
    path: "/etc/hosts",
    content:
      header(env.name, "#", `hosts of ${h.hostname}`) +
      [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        `${plainWord(h.mgmt.ipv4)}\t${fqdn} ${hostname}`,
        `${plainWord(h.mgmt.ipv6)}\t${fqdn} ${hostname}`,
      ].join("\n") +
      "\n",
  });
  b.file({
    path: NETPLAN_FILE,
    mode: "0600",
    content: netplanConfig(topo, h),
    validate: NETPLAN_VALIDATE,
    activate: { kind: "command", command: "netplan apply" },
  });
  // node_exporter answers on the mgmt network only, never on ingress0 or a VIP. The textfile
  // directory (Debian's default, named so it does not depend on it) holds the collector's
  // maglev-infra.prom (src/monitoring/metrics.ts).
  b.file({
    path: "/etc/default/prometheus-node-exporter",
    content:
      header(env.name, "#", "prometheus-node-exporter arguments") +
      `ARGS="--web.listen-address=${h.mgmt.ipv4}:9100 --collector.systemd --collector.netdev.device-exclude=^(lo|vip)$ --collector.textfile.directory=${TEXTFILE_DIR}"\n`,
    activate: { kind: "restart", service: "prometheus-node-exporter" },
  });
}

/**
 * The `vip` dummy interface holding VIPs (/32, /128). Debian 12's netplan (0.106) has no
 * dummy devices, so it is a systemd-networkd .netdev/.network pair next to netplan's files.
 */
export function vipInterface(
  topo: Topology,
  h: HostFacts,
  b: PlanBuilder,
  vips: { ipv4: string[]; ipv6: string[] },
  ifname = "vip",
): void {
  const env = topo.env;
  b.file({
    path: `/etc/systemd/network/60-${ifname}.netdev`,
    content:
      header(env.name, "#", `dummy interface ${ifname} of ${h.hostname}`) +
      `[NetDev]\nName=${systemdValue(ifname, "VIP interface name")}\nKind=dummy\n`,
    activate: { kind: "command", command: "networkctl reload" },
  });
  const addrs = [
    ...vips.ipv4.map((a) => `Address=${a}/32`),
    ...vips.ipv6.map((a) => `Address=${a}/128`),
  ];
  b.file({
    path: `/etc/systemd/network/60-${ifname}.network`,
    content:
      header(env.name, "#", `VIPs on ${ifname} of ${h.hostname}`) +
      `[Match]\nName=${systemdValue(ifname, "VIP interface name")}\n\n[Link]\n# A dummy interface never answers ARP/ND for the VIPs by itself; arp_ignore keeps it so.\nRequiredForOnline=no\n\n[Network]\n` +
      `ConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n` +
      (addrs.length ? addrs.join("\n") + "\n" : ""),
    activate: { kind: "command", command: "networkctl reload && networkctl reconfigure " + ifname },
  });
}

/** Every sysctl of a plan, as systemd-sysctl reads them at boot. */
export const SYSCTL_FILE = "/etc/sysctl.d/60-maglev-infra.conf";
/** Kernel modules whose sysctls the plan sets, as systemd-modules-load reads them at boot. */
export const MODULES_FILE = "/etc/modules-load.d/maglev-infra.conf";

/**
 * Whatever must survive a reboot is a file on the host: the plan's sysctls go into
 * sysctl.d and the modules that provide some of them (ip_vs) into modules-load.d.
 * systemd-modules-load runs before systemd-sysctl, so net.ipv4.vs.* exist when it reads the
 * file; keys of interfaces that appear later (ingress0, vip) are applied by udev's
 * 99-systemd.rules, which re-runs systemd-sysctl for each new network interface. The apply
 * program writes the values itself (its sysctls phase); these files have no activation.
 */
export function persistSysctls(topo: Topology, b: PlanBuilder): void {
  const sysctls = b.plannedSysctls();
  if (sysctls.length === 0) return;
  b.file({
    path: SYSCTL_FILE,
    content:
      header(topo.env.name, "#", `kernel settings of ${b.hostname}`) +
      sysctls.map((s) => `${s.key} = ${s.value}`).join("\n") +
      "\n",
  });
  const modules = [...new Set(sysctls.map((s) => s.module).filter((m): m is string => !!m))].sort();
  if (modules.length)
    b.file({
      path: MODULES_FILE,
      content:
        header(topo.env.name, "#", `kernel modules of ${b.hostname}`) + modules.join("\n") + "\n",
    });
}
