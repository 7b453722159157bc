/**
 * The lab as a HostRunner: day-2 commands (ops, check, hactl) reach the lab's managed guests
 * (systemd, lab/machine/) as real hosts are reached — the same SSH runner, as the stack's user,
 * from the operator's seat with the lab's key and known_hosts. Guests are named by their
 * hostnames (lab-vm-mgw01, …).
 *
 * At most `LAB_RUNNER_CONCURRENCY` runs at a time. Over SSH every host has its own CPUs;
 * here thirteen guests share two cores, and `check` probing nine guests at once kept the host
 * saturated for seconds (run queue 10–23): guests stalled 250–425 ms, past the maglev BFD
 * detection time (100 ms × 3), and the check then reported the sessions its own probes had
 * dropped.
 */
import { HostRunner, sshRunner } from "../src/ops/runner";
import { DEFAULT_STATE_DIR, Lab } from "./guest";

export const LAB_RUNNER_CONCURRENCY = Number(process.env.LAB_RUNNER_CONCURRENCY ?? 2);

/** A FIFO limit on concurrent async calls. */
export function limiter(max: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active < max) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve)); // a finishing call hands over its slot
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

export function labRunner(
  stateDir: string = DEFAULT_STATE_DIR,
  concurrency = LAB_RUNNER_CONCURRENCY,
): HostRunner {
  const lab = Lab.attach(stateDir);
  const limit = limiter(concurrency);
  const user = lab.loginUser();
  const ssh = user !== undefined ? lab.sshOptions(user) : undefined;
  if (!ssh)
    throw new Error(
      `the lab in ${stateDir} has no managed guest reachable over SSH (no systemd guest or no operator seat): npm run lab -- up`,
    );
  const r = sshRunner(ssh);
  return {
    kind: "ssh",
    services: r.services,
    run: (h, script, t, stdin) => limit(() => r.run(h, script, t, stdin)),
  };
}
