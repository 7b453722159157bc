/**
 * A gateway's routes to the VIPs as FRR installed them in the kernel (one ECMP next hop per
 * announcing maglev): the commands that read them and their parsers, for the operations
 * (src/ops: check, drain) and the lab alike.
 *
 * Here the JSON of `ip -j route`, parsed in TypeScript. A second form stays, on purpose: a count
 * of " via " in `ip -o route` in the bash loops inside a gateway (lab/watches.sh, the lab's
 * timelines and watches), which must not fork a JSON parser on every route event.
 */

/** The route to one VIP (its exact /32 or /128) as JSON. */
export function vipRouteCommand(vip: string): string {
  const six = vip.includes(":");
  return `ip ${six ? "-6 " : ""}-j route show ${vip}/${six ? 128 : 32}`;
}

/** Next hops of one route from `ip -j route show <prefix>`; none for anything unparsable. */
export function nextHops(json: string): string[] {
  try {
    const routes = JSON.parse(json || "[]") as {
      gateway?: string;
      nexthops?: { gateway: string }[];
    }[];
    return routes.flatMap((r) =>
      r.nexthops ? r.nexthops.map((n) => n.gateway) : r.gateway ? [r.gateway] : [],
    );
  } catch {
    return [];
  }
}

/** One script for several VIPs: a line `R <vip> <route JSON>` each (read by parseVipRoutes). */
export function vipRoutesScript(vips: string[]): string {
  return vips.map((v) => `echo "R ${v} $(${vipRouteCommand(v)})"`).join("; ");
}

/** vipRoutesScript's output: VIP → its next hops (lines of other commands are skipped). */
export function parseVipRoutes(out: string): Map<string, string[]> {
  const routes = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const mm = /^R (\S+) (.*)$/.exec(line);
    if (mm) routes.set(mm[1], nextHops(mm[2]));
  }
  return routes;
}
