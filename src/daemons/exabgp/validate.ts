/** ExaBGP's checkers: the configuration, the environment file and the announce process's data. */
import { Validate } from "../../plan/types";
import { ANNOUNCE_SCRIPT } from "./render";

/**
 * `exabgp --validate` exits 1 on a bad file. It also refuses a `run` program that does not
 * exist yet, and the apply step validates every file before installing any: the copy it
 * checks runs /bin/true instead of the announce script (which has its own checker).
 */
export const EXABGP_VALIDATE: Validate = {
  checker: "exabgp",
  command:
    `d=$(mktemp -d) && sed 's#^\\( *run \\)${ANNOUNCE_SCRIPT};#\\1/bin/true;#' {file} > "$d/exabgp.conf" && ` +
    `exabgp_api_cli=false exabgp --validate "$d/exabgp.conf" >"$d/out" 2>&1; rc=$?; ` +
    `[ $rc -eq 0 ] || tail -n 8 "$d/out"; rm -rf "$d"; exit $rc`,
};

/** `exabgp --env FILE` parses the file the way ExaBGP's start does; a bad value ends in a traceback, whose last line is printed. */
export const EXABGP_ENV_VALIDATE: Validate = {
  checker: "exabgp",
  command: `out=$(exabgp --env {file} --diff-env 2>&1) || { printf '%s\\n' "$out" | grep -E '^[A-Za-z]+Error: ' | tail -n 1; exit 1; }`,
};

/** `python3 -m json.tool`: the data file is one JSON document (the program fails at start on anything else). */
export const JSON_SYNTAX: Validate = {
  checker: "python3",
  command: "python3 -m json.tool {file} >/dev/null",
};
