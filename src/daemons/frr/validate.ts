/** FRR's checkers: frr.conf (vtysh and bgpd dry runs) and the daemons file. */
import { Validate } from "../../plan/types";

/**
 * FRR's checker, in two passes, because neither alone fails on every broken file:
 *  1. `vtysh --dryrun` parses the file against every daemon's command tree and exits non-zero
 *     on an unknown or malformed command. It does not run the commands, so it accepts e.g.
 *     `neighbor X peer-group G` for a group G never defined.
 *  2. `bgpd --dryrun` runs the commands for real, but always exits 0 and only logs. Any
 *     logged error ("[EC …]": a command that parsed but failed, a file it cannot open) is made
 *     a failure, except "No such command": those are other daemons' commands, which pass 1
 *     checked. bgpd reads a copy without the `bfd` block and the vtysh-only line (after a
 *     command it does not know, the rest of its parse is meaningless), in a directory it can
 *     read after dropping to the frr user.
 */
export const FRR_VALIDATE: Validate = {
  checker: "vtysh",
  command:
    'vtysh --dryrun -f {file} || exit 1; d=$(mktemp -d) && chmod 755 "$d" || exit 1; ' +
    "sed -e '/^bfd$/,/^exit$/d' -e '/^service integrated-vtysh-config$/d' {file} > \"$d/bgpd.conf\" && chmod 644 \"$d/bgpd.conf\"; " +
    "out=$(/usr/lib/frr/bgpd --dryrun -f \"$d/bgpd.conf\" 2>&1 | grep -E '\\[EC [0-9]+\\]' | grep -vF 'No such command'); rm -rf \"$d\"; " +
    'if [ -n "$out" ]; then printf \'%s\\n\' "$out"; exit 1; fi',
};

/** The daemons file is a shell fragment that frrinit.sh sources. */
export const DAEMONS_VALIDATE: Validate = { checker: "bash", command: "bash -n {file}" };
