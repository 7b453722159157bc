/**
 * Generated environments for property tests and benchmarks: valid by construction, any
 * size. Hosts are spread over tiers like mgmt02; addresses come from 10.0.0.0/16 (mgmt) and
 * 10.64.0.0/16 (ingress) with matching IPv6 /64s, so up to ~65,000 hosts fit.
 */
import type { EnvironmentInput } from "../config/schema";

export interface GenerateOptions {
  /** Total hosts. @default 20 */
  hosts?: number;
  /** Maglev nodes. @default 2 */
  maglevs?: number;
  /** HAProxy groups (each gets a VIP on 80 and 443, v4 and v6). @default 1 */
  haproxyGroups?: number;
  /** Environment name. @default gen */
  name?: string;
}

function v4(base: string, i: number): string {
  return `${base}.${Math.floor(i / 256)}.${i % 256}`;
}
function v6(base: string, i: number): string {
  return `${base}::${i.toString(16)}`;
}

export function generateEnvironment(opts: GenerateOptions = {}): EnvironmentInput {
  const total = Math.max(opts.hosts ?? 20, 8);
  const maglevs = opts.maglevs ?? 2;
  const nGroups = Math.max(1, opts.haproxyGroups ?? Math.max(1, Math.floor(total / 50)));
  const hosts: EnvironmentInput["hosts"] = [];
  let idx = 10;
  const add = (name: string, tier: EnvironmentInput["hosts"][number]["tier"]) => {
    const i = idx++;
    hosts.push({
      name,
      tier,
      mgmt: { ipv4: v4("10.0", i), ipv6: v6("fd00:0:0:7", i) },
      ingress: { ipv4: v4("10.64", i), ipv6: v6("fd00:0:0:a", i) },
      vm: { id: 1000 + i },
    });
    return name;
  };
  add("gw01", "gateway");
  add("gw02", "gateway");
  for (let m = 1; m <= maglevs; m++) add(`maglev${String(m).padStart(2, "0")}`, "maglev");
  const dnsdist = [add("dnsdist01", "dnsdist")];
  const pdns = [add("dns01", "powerdns")];
  add("dns00", "shadow-primary");
  const remaining = total - hosts.length;
  const groups: EnvironmentInput["backendGroups"] = {};
  const vips: EnvironmentInput["vips"] = [];
  const members: string[][] = Array.from({ length: nGroups }, () => []);
  for (let i = 0; i < remaining; i++)
    members[i % nGroups].push(add(`lb${String(i + 1).padStart(4, "0")}`, "haproxy"));
  members.forEach((m, g) => {
    const gname = `grp${g + 1}`;
    groups[gname] = {
      kind: "haproxy",
      id: g + 1,
      members: m,
      servers: [{ name: "app", address: "192.0.2.10", port: 8080 }],
    };
    vips.push({
      vip: `198.51.${100 + Math.floor(g / 250)}.${(g % 250) + 1}`,
      ports: [80, 443],
      group: gname,
    });
    vips.push({ vip: `2001:db8:${(g + 1).toString(16)}::10`, ports: [80, 443], group: gname });
  });
  groups["dns"] = { kind: "dnsdist", id: nGroups + 1, members: dnsdist };
  vips.push({ vip: "198.51.99.53", ports: [53], protocols: ["udp", "tcp"], group: "dns" });
  void pdns;
  return {
    name: opts.name ?? "gen",
    networks: {
      mgmt: { ipv4: "10.0.0.0/16", ipv6: "fd00:0:0:7::/64", gateway4: "10.0.0.1" },
      ingress: { ipv4: "10.64.0.0/16", ipv6: "fd00:0:0:a::/64" },
    },
    bgp: { asn: 64512, upstream: [{ name: "upstream", ipv4: "10.0.0.2" }] },
    proxmox: {
      defaults: { node: "pve01", template: 9000 },
      sshPublicKey:
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGVuZXJhdGVkLWtleS1mb3ItdGVzdHMtb25seS0wMDAw gen",
    },
    dns: { zone: "gen.example.net" },
    hosts,
    backendGroups: groups,
    vips,
  };
}
