/**
 * Smoke test of the lab machinery: 3 bash guests on one switch, two FRR (lab/lab-frr.sh) peering
 * iBGP (v4 + v6) over mgmt0 with BFD, one plain guest running the nftables/IPVS/dummy checks;
 * then down() and proof that nothing is left behind.
 *
 *   npx tsx lab/smoke.ts            (MAGLEV_LAB_KERNEL=/usr/bin/linux.uml to try the stock kernel)
 */
import * as fs from "fs";
import { Lab, NodeSpec } from "./guest";
import { labFrr } from "./lab-frr";
import { checkPrerequisites } from "./prereqs";
import { ROUTER_DAEMONS } from "./topology";
import { DEFAULT_INTERFACES } from "../src/topology";

const STATE = process.env.MAGLEV_LAB_DIR ?? "/run/maglev-lab-smoke";

function frrConf(me: number, peer: number): string {
  return `frr defaults traditional
hostname r${me}
service integrated-vtysh-config
!
router bgp 65000
 bgp router-id 10.99.0.${me}
 no bgp ebgp-requires-policy
 neighbor 10.99.0.${peer} remote-as 65000
 neighbor 10.99.0.${peer} timers connect 2
 neighbor 10.99.0.${peer} bfd
 neighbor fd99::${peer} remote-as 65000
 neighbor fd99::${peer} timers connect 2
 neighbor fd99::${peer} bfd
 address-family ipv4 unicast
  network 198.51.100.${me}/32
 exit-address-family
 address-family ipv6 unicast
  neighbor fd99::${peer} activate
 exit-address-family
!
ip route 198.51.100.${me}/32 blackhole
!
`;
}

// The same daemons file as the lab's router (bgpd + bfdd).
const DAEMONS = ROUTER_DAEMONS;

const NFT = `#!/usr/sbin/nft -f
flush ruleset
table inet labtest {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    udp dport 53 notrack
    ip daddr 192.0.2.10 tcp dport 80 meta mark set 0x1
    ip6 daddr 2001:db8::10 tcp dport 80 meta mark set 0x2
  }
}
`;

function node(name: string, i: number): NodeSpec {
  return {
    name,
    hostname: `lab-${name}`,
    memMB: 128,
    interfaces: [
      {
        ifname: DEFAULT_INTERFACES.mgmt,
        network: "mgmt",
        ipv4: `10.99.0.${i}/24`,
        ipv6: `fd99::${i}/64`,
      },
    ],
  };
}

async function main(): Promise<void> {
  const missing = checkPrerequisites();
  if (missing.length) console.log("prerequisites missing (continuing):\n  " + missing.join("\n  "));
  const lab = Lab.create({ stateDir: STATE, kernel: process.env.MAGLEV_LAB_KERNEL });
  let failed = false;
  try {
    lab.define(node("r1", 1), node("r2", 2), node("plain", 3));
    const t0 = Date.now();
    const boots = await lab.startAll();
    for (const b of boots)
      console.log(
        `boot ${b.node}: ready ${b.readyMs} ms (guest uptime at ready ${b.guestUptime.toFixed(2)} s)`,
      );
    console.log(`all 3 ready in ${Date.now() - t0} ms`);

    const e = await lab.exec("plain", "true");
    console.log(`exec round trip (true): ${e.ms} ms`);

    const tf = Date.now();
    await Promise.all(
      [1, 2].map(async (i) => {
        const n = `r${i}`;
        await lab.writeFiles(n, [
          { path: "/etc/frr/daemons", content: DAEMONS, mode: "0640", owner: "frr:frr" },
          { path: "/etc/frr/frr.conf", content: frrConf(i, 3 - i), mode: "0640", owner: "frr:frr" },
        ]);
        await lab.run(n, labFrr.start, { timeoutMs: 30_000 });
      }),
    );
    console.log(`frr started on r1, r2 in ${Date.now() - tf} ms`);

    // Established on both sessions (bounded wait), BFD up.
    const tb = Date.now();
    let est = false;
    for (let i = 0; i < 60 && !est; i++) {
      const r = await lab.exec(
        "r1",
        "vtysh -c 'show bgp neighbors' | grep -c 'BGP state = Established'",
      );
      est = r.stdout.trim() === "2";
      if (!est) await new Promise((r) => setTimeout(r, 500));
    }
    console.log(
      `BGP ${est ? "Established" : "NOT established"} ${Date.now() - tb} ms after frr start`,
    );
    console.log((await lab.exec("r1", "vtysh -c 'show bgp summary'")).stdout);
    console.log((await lab.exec("r1", "vtysh -c 'show bfd peers brief'")).stdout);
    console.log(
      (await lab.exec("r2", `ip route show 198.51.100.1; ${labFrr.isActive} && echo frr active`))
        .stdout,
    );
    if (!est) failed = true;

    // nftables with meta mark set + notrack, IPVS mh fwmark service, dummy interface.
    await lab.writeFile("plain", "/etc/nftables.conf", NFT, "0755");
    // One-line commands, one exec each, stopping at the first that fails (as `set -e` did).
    const nft = { code: 0, stdout: "", stderr: "" };
    for (const cmd of [
      "nft -f /etc/nftables.conf",
      "nft list ruleset",
      "ipvsadm -A -f 1 -s mh -b mh-port",
      "ipvsadm -a -f 1 -r 10.99.0.1 -g -w 1",
      "ipvsadm -Ln",
      "ip link add vip0 type dummy && ip addr add 192.0.2.10/32 dev vip0 && ip link set vip0 up",
      "ip -br addr show dev vip0",
    ]) {
      const r = await lab.exec("plain", cmd);
      nft.stdout += r.stdout;
      nft.stderr += r.stderr;
      nft.code = r.code;
      if (r.code !== 0) break;
    }
    console.log(`nft/ipvs/dummy test: exit ${nft.code}\n${nft.stdout}${nft.stderr}`);
    if (nft.code !== 0) failed = true;

    // Timeout path: the job's process group is killed, the call returns 124.
    const to = await lab.exec("plain", "sleep 30", { timeoutMs: 500 });
    const left = await lab.exec("plain", "pgrep -x sleep || echo none");
    console.log(
      `timeout: code ${to.code} after ${to.ms} ms; sleep left in guest: ${left.stdout.trim()}`,
    );

    // Power cut and reboot of one node.
    const ts = Date.now();
    await lab.stop("r2");
    console.log(`stop(r2) (mconsole halt): ${Date.now() - ts} ms`);
    const bfd = await lab.exec("r1", "sleep 1; vtysh -c 'show bfd peers brief'");
    console.log(bfd.stdout);
    const rb = await lab.start("r2");
    console.log(`restart r2: ready ${rb.readyMs} ms`);

    console.log(JSON.stringify(lab.status(), null, 1));
  } catch (err) {
    failed = true;
    console.error(err);
  } finally {
    const td = Date.now();
    const { leftovers } = await lab.down();
    console.log(
      `down() in ${Date.now() - td} ms; leftovers: ${leftovers.length ? leftovers.join("; ") : "none"}; state dir exists: ${fs.existsSync(STATE)}`,
    );
    if (leftovers.length) failed = true;
  }
  process.exitCode = failed ? 1 : 0;
}

void main();
