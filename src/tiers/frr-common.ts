/**
 * FRR on a host, for the gateways (bgpd + bfdd) and the maglevs (bfdd only): packages, the
 * daemons file and frr.conf (rendered in src/daemons/frr), the service.
 *
 * Both files are self-contained: a host started by hand (the lab runs
 * `/usr/lib/frr/frrinit.sh start` without systemd) reads exactly what `pulumi up` installs.
 */
import { Topology, HostFacts } from "../topology";
import { PlanBuilder } from "../plan/builder";
import { FileVariant } from "../plan/types";
import { FRR_CONF, FRR_DAEMONS, FrrDaemon, frrDaemons } from "../daemons/frr/render";
import { DAEMONS_VALIDATE, FRR_VALIDATE } from "../daemons/frr/validate";

// FRR's renderer and checkers live in src/daemons/frr; their names stay importable here.
export {
  FRR_CONF,
  FRR_DAEMONS,
  type FrrDaemon,
  frrDaemons,
  frrPreamble,
  bfdProfile,
  bfdDetectMs,
} from "../daemons/frr/render";
export { FRR_VALIDATE, DAEMONS_VALIDATE } from "../daemons/frr/validate";

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
