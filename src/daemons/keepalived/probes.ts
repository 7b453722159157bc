/**
 * The live IPVS state of a maglev (the services keepalived made), as `ipvsadm` prints it: parsed
 * here once, for the operations (src/ops: check, drain, maintain) and the lab alike.
 *
 * One look-alike stays in the lab: its weight watch (lab/watches.sh weight-zero) reads
 * /proc/net/ip_vs with bash builtins inside the guest, every 50 ms, without forking
 * ipvsadm — it times keepalived and must not compete with it for the guest's one vCPU.
 */

/** The real servers and their weights and active connections. */
export const IPVS_LIST_COMMAND = "ipvsadm -Ln";
/** Packet and connection counters per service and real server, exact numbers. */
export const IPVS_STATS_COMMAND = "ipvsadm -Ln --stats --exact";

/** A fwmark service's key in parseIpvs's map: `4:100080`, `6:100080`. */
export function ipvsServiceKey(family: "ipv4" | "ipv6", fwmark: number): string {
  return `${family === "ipv6" ? 6 : 4}:${fwmark}`;
}

export interface IpvsRealServer {
  weight: number;
  active: number;
}

/** `ipvsadm -Ln` parsed: fwmark service key (`4:100080`) → real server address → {weight, active}. */
export function parseIpvs(text: string): Map<string, Map<string, IpvsRealServer>> {
  const out = new Map<string, Map<string, IpvsRealServer>>();
  let cur: Map<string, IpvsRealServer> | undefined;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] === "FWM") {
      cur = new Map();
      out.set(`${f[2] === "IPv6" ? 6 : 4}:${f[1]}`, cur);
    } else if (f[0] === "TCP" || f[0] === "UDP") {
      cur = undefined;
    } else if (f[0] === "->" && cur && f[2] === "Route") {
      // "[2a0a::21]:0" or "10.1.10.33:0"
      const addr = f[1].replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
      cur.set(addr, { weight: Number(f[3]), active: Number(f[4]) });
    }
  }
  return out;
}

/** One service line of `ipvsadm -Ln --stats --exact`: its connections and packets received. */
export interface IpvsServiceStats {
  /** `4:100080` / `6:100080` for a fwmark service, `TCP 10.0.0.1:80` for the others. */
  key: string;
  conns: number;
  inPkts: number;
}

/**
 * `ipvsadm -Ln --stats --exact` parsed: the service lines (FWM, TCP, UDP), not the real servers'.
 * "FWM  100080  <Conns> <InPkts> …"; an IPv6 fwmark service has one word more:
 * "FWM  100080 IPv6 <Conns> <InPkts> …".
 */
export function parseIpvsStats(text: string): IpvsServiceStats[] {
  const out: IpvsServiceStats[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f[0] !== "FWM" && f[0] !== "TCP" && f[0] !== "UDP") continue;
    const six = f[0] === "FWM" && f[2] === "IPv6";
    const at = six ? 3 : 2;
    if (!/^\d+$/.test(f[at + 1] ?? "")) continue;
    out.push({
      key: f[0] === "FWM" ? `${six ? 6 : 4}:${f[1]}` : `${f[0]} ${f[1]}`,
      conns: Number(f[at]),
      inPkts: Number(f[at + 1]),
    });
  }
  return out;
}
