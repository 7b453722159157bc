/** PowerDNS's checker for the rendered pdns.conf. */
import { Validate } from "../../plan/types";

/** PowerDNS 4.7 has a real check mode: unknown settings, unloadable backends and syntax errors fail it. */
export const PDNS_VALIDATE: Validate = {
  checker: "pdns_server",
  // --socket-dir: the check's own pdns_server stays out of the running server's runtime dir
  // (its control socket is what the health gate's `pdns_control rping` talks to).
  command:
    'd=$(mktemp -d) && cp {file} "$d/pdns.conf" && pdns_server --config-dir="$d" --socket-dir="$d" --config=check; rc=$?; rm -rf "$d"; exit $rc',
};
