/**
 * The lab as a HostRunner: day-2 commands (ops, check, hactl) reach lab guests through the
 * lab's exec instead of SSH. Guests are named by their hostnames (lab-vm-mgw01, …).
 *
 * At most `LAB_RUNNER_CONCURRENCY` runs at a time. Over SSH every host has its own CPUs;
 * here thirteen guests share two cores, and `check` probing nine guests at once kept the host
 * saturated for seconds (run queue 10–23): guests stalled 250–425 ms, past the maglev BFD
 * detection time (100 ms × 3), and the check then reported the sessions its own probes had
 * dropped.
 */
import { HostRunner, sshRunner } from "../src/ops/runner";
import { DEFAULT_STATE_DIR, Lab } from "./guest";
import { labServices } from "./services";

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
  // systemd guests are reached as real hosts are: the same SSH runner, as the stack's user,
  // from the operator's seat with the lab's key and known_hosts (`--lab` chooses only those).
  const user = lab.loginUser();
  const ssh = user !== undefined ? lab.sshOptions(user) : undefined;
  if (ssh) {
    const r = sshRunner(ssh);
    return {
      kind: "ssh",
      services: r.services,
      run: (h, script, t, stdin) => limit(() => r.run(h, script, t, stdin)),
    };
  }
  return {
    kind: "lab",
    services: labServices,
    run(hostname, script, timeoutMs = 30000, stdin) {
      return limit(async () => {
        const r = await lab.exec(hostname, script, { timeoutMs, stdin });
        return { stdout: r.stdout, stderr: r.stderr, code: r.code };
      });
    },
  };
}
