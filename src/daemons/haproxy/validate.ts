/** HAProxy's checkers: haproxy.cfg and the haproxy.service drop-ins. */
import { Validate } from "../../plan/types";
import { shellWord } from "../../escape";
import { HACTL_PATH, HAPROXY_RELOAD_DROPIN, HAPROXY_SOFT_STOP_DROPIN } from "./render";

const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);

/** `haproxy -c`: the whole configuration parsed and resolved, as a reload would. */
export const HAPROXY_VALIDATE: Validate = { checker: "haproxy", command: "haproxy -c -f {file}" };

/**
 * A drop-in checked as systemd reads it: Debian's haproxy.service (installed by the package
 * step before any file is checked) with this file in its .d folder under its own name, any
 * diagnostic a failure. `before`: shell run first in the copy's folder (`$d`), which fails the
 * check with its own message.
 */
export function haproxyDropInValidate(name: string, before = ""): Validate {
  return {
    checker: "systemd-analyze",
    command:
      `d=$(mktemp -d) && cp /lib/systemd/system/haproxy.service "$d/" && mkdir "$d/haproxy.service.d" && cp {file} "$d/haproxy.service.d/${name}" && ` +
      (before
        ? `if ! out=$(${before}); then rm -rf "$d"; printf '%s\\n' "$out"; exit 1; fi; `
        : "") +
      `out=$(cd "$d" && systemd-analyze verify --man=no ./haproxy.service 2>&1 | grep -vF ${shellWord(`Command ${HACTL_PATH} is not executable`)}); ` +
      'rm -rf "$d"; if [ -n "$out" ]; then printf \'%s\\n\' "$out"; exit 1; fi',
  };
}

/** The reload drop-in (save-state.conf). */
export const HAPROXY_DROPIN_VALIDATE: Validate = haproxyDropInValidate(
  baseName(HAPROXY_RELOAD_DROPIN),
);

/**
 * The soft-stop drop-in, and what it relies on in Debian's unit: KillMode=mixed and no
 * ExecStop= (a stop is then KillSignal= to the master alone). A package whose unit changed that
 * fails the check, naming what changed, before the drop-in becomes live.
 */
export const HAPROXY_SOFT_STOP_VALIDATE: Validate = haproxyDropInValidate(
  baseName(HAPROXY_SOFT_STOP_DROPIN),
  `u="$d/haproxy.service"; grep -qx 'KillMode=mixed' "$u" || { echo "Debian's haproxy.service no longer has KillMode=mixed: the soft-stop drop-in assumes it"; exit 1; }; ` +
    `! grep -q '^ExecStop' "$u" || { echo "Debian's haproxy.service now has ExecStop=: KillSignal=SIGUSR1 would follow it, review the soft-stop drop-in"; exit 1; }`,
);
