/** keepalived's checker for the rendered keepalived.conf. */
import { Validate } from "../../plan/types";

/**
 * `keepalived -t` exits non-zero on errors and on warnings (exit 5), e.g. a port on a real
 * server of a fwmark service. It exits 0 on a missing file, hence `test -s` first.
 */
export const KEEPALIVED_VALIDATE: Validate = {
  checker: "keepalived",
  command: "test -s {file} && keepalived -t -f {file}",
};
