/** HAProxy's checkers: haproxy.cfg and the reload drop-in. */
import { Validate } from "../../plan/types";
import { shellWord } from "../../escape";
import { HACTL_PATH } from "./render";

/** `haproxy -c`: the whole configuration parsed and resolved, as a reload would. */
export const HAPROXY_VALIDATE: Validate = { checker: "haproxy", command: "haproxy -c -f {file}" };

/**
 * The drop-in checked as systemd reads it: Debian's haproxy.service (installed by the package
 * step before any file is checked) with this file in its .d folder, any diagnostic a failure.
 */
export const HAPROXY_DROPIN_VALIDATE = {
  checker: "systemd-analyze",
  command:
    'd=$(mktemp -d) && cp /lib/systemd/system/haproxy.service "$d/" && mkdir "$d/haproxy.service.d" && cp {file} "$d/haproxy.service.d/save-state.conf" && ' +
    `out=$(cd "$d" && systemd-analyze verify --man=no ./haproxy.service 2>&1 | grep -vF ${shellWord(`Command ${HACTL_PATH} is not executable`)}); ` +
    'rm -rf "$d"; if [ -n "$out" ]; then printf \'%s\\n\' "$out"; exit 1; fi',
};
