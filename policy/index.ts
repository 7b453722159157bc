/**
 * The maglev-infra policy pack: `pulumi preview --policy-pack policy` (and `up`) runs these
 * rules on every resource the program registers. The rules live in ./rules (pure, run under
 * mocks by test/policy).
 */
import { PolicyPack } from "@pulumi/policy";
import { POLICIES } from "./rules";

new PolicyPack("maglev-infra", { policies: POLICIES });
