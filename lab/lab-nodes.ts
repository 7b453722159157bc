/**
 * The lab-only nodes: what stands in for the world around a stack — the routers (upstream,
 * transit), the client, the app servers. Not managed hosts: no plan, no apply program; each is
 * set up by hand here, once booted (lab/cluster.ts `provision`).
 */
import * as fs from "fs";
import * as path from "path";
import { Lab } from "./guest";
import { LabModel, LabRouter, routerFrrConf, ROUTER_DAEMONS, appHaproxyCfg } from "./topology";
import { labFrr } from "./lab-frr";

/**
 * A guest that came up without IPv6: CI, 2026-12-02, the transit router booted mid-run for
 * scenario s had no /proc/sys/net/ipv6 (the kernel is built with IPV6=y; every other guest of
 * that run had it); 2026-12-03 an app server (96 MB) at `lab up`. Cause not found: the guest is
 * booted once more (said in the log, with what its kernel said of IPv6), and a second miss
 * fails with the guest's kernel log. `lab up` asks every guest (lab/cluster.ts).
 */
export async function ensureIpv6(lab: Lab, node: string, log?: (s: string) => void): Promise<void> {
  const probe = "test -d /proc/sys/net/ipv6 || { dmesg | tail -n 40; exit 3; }";
  let r = await lab.exec(node, probe, { timeoutMs: 15_000 });
  if (r.code !== 3) return;
  const first = r.stdout;
  const said = first.split("\n").filter((l) => /ipv6|IPv6|inet6|NET:/.test(l));
  log?.(
    `  ${node} booted without IPv6: booting it again (its kernel: ${said.join(" | ") || "nothing on IPv6"})`,
  );
  await lab.stop(node);
  await lab.start(node);
  r = await lab.exec(node, probe, { timeoutMs: 15_000 });
  if (r.code === 3)
    throw new Error(
      `${node} booted twice without IPv6 (/proc/sys/net/ipv6 missing); kernel log:\n${r.stdout}\nfirst boot:\n${first}`,
    );
}

export async function setupRouter(lab: Lab, m: LabModel, r: LabRouter): Promise<void> {
  await ensureIpv6(lab, r.name);
  await lab.writeFiles(r.name, [
    // No bfdd on a router the stack does not give BFD (transit): one daemon less on 2 cores.
    {
      path: "/etc/frr/daemons",
      content: r.bfd ? ROUTER_DAEMONS : ROUTER_DAEMONS.replace("bfdd=yes\n", ""),
      mode: "0640",
      owner: "frr:frr",
    },
    { path: "/etc/frr/frr.conf", content: routerFrrConf(m, r), mode: "0640", owner: "frr:frr" },
  ]);
  await lab.run(
    r.name,
    `set -e; sysctl -q -w net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 net.ipv4.fib_multipath_hash_policy=1 net.ipv6.fib_multipath_hash_policy=1 net.ipv4.fib_multipath_use_neigh=1; ${labFrr.start}`,
    { timeoutMs: 60_000 },
  );
}

export async function setupApp(lab: Lab, name: string, port: number): Promise<void> {
  // 48 KB body for /big (DSR evidence: replies much larger than what the client sends), in the
  // node dir the guest sees as /run/lab.
  fs.writeFileSync(
    path.join(lab.nodeDir(name), "big.txt"),
    `${name}\n` + "x".repeat(48 * 1024 - name.length - 2) + "\n",
  );
  await lab.writeFile(name, "/etc/lab-app.cfg", appHaproxyCfg(name, port));
  await lab.run(
    name,
    // Twice, with HAProxy's own words on a failure: once (2026-12-02) app01's start exited 1
    // and the lab up that followed started it fine; its log was gone with the lab.
    "for i in 1 2; do haproxy -D -f /etc/lab-app.cfg -p /run/lab-app.pid >>/run/lab/log/app.log 2>&1 && exit 0; " +
      'echo "haproxy start $i failed:" >&2; tail -n 8 /run/lab/log/app.log >&2; sleep 1; done; exit 1',
    { timeoutMs: 30_000 },
  );
}

export async function setupClient(lab: Lab): Promise<void> {
  // The consistency scenario sends the same 5-tuples twice from fixed source ports (41001…):
  // they are kept out of the ephemeral range, and tcp_max_tw_buckets=0 keeps no TIME_WAIT.
  await lab.run(
    "client",
    "sysctl -q -w vm.overcommit_memory=1 net.ipv4.ip_local_port_range='10000 40000' net.ipv4.tcp_tw_reuse=1 net.ipv4.tcp_max_tw_buckets=0",
  );
}
