/** dnsdist's checker for the rendered dnsdist.conf. */
import { Validate } from "../../plan/types";

export const DNSDIST_VALIDATE: Validate = {
  checker: "dnsdist",
  command: "dnsdist --check-config -C {file}",
};
