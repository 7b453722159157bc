/**
 * The lab command's grammar (commander, like src/cli): which commands and flags `npm run lab`
 * takes and what each one calls. The actions are passed in, so the parsing is tested without a
 * guest (test/lab/cli.test.ts); lab/cli.ts passes the real ones.
 */
import { Command, CommanderError } from "commander";

/** What each command does; each resolves to the process's exit status. */
export interface LabActions {
  up(opts: { stack: string }): Promise<number>;
  down(): Promise<number>;
  status(): Promise<number>;
  /** `cmd`: one argument is a shell command line, several are an argv. */
  exec(host: string, cmd: string[]): Promise<number>;
  stop(host: string): Promise<number>;
  start(host: string): Promise<number>;
  reboot(host: string): Promise<number>;
  /** `stack`: omitted, the stack the lab was brought up with. */
  apply(opts: { stack?: string }): Promise<number>;
  /** `args`: scenario names (or their letters) and `--keep`, as lab/scenarios/index.ts reads them. */
  test(args: string[]): Promise<number>;
}

const ENVIRONMENT = `
Environment:
  MAGLEV_LAB_DIR          state dir (default /run/maglev-lab)
  MAGLEV_LAB_KERNEL       the UML kernel to boot (default: the one lab/kernel.sh builds)
  LAB_EXEC_TIMEOUT_MS     exec's time limit (default 600000)
  LAB_KEEP=1              up: leave the lab up when it fails, for debugging
  LAB_VERBOSE=1           print every apply phase of every host
  LAB_RUNNER_CONCURRENCY  commands at a time into the guests (default 2)`;

type Output = { out: (s: string) => void; err: (s: string) => void };

/**
 * The program; `done` receives the exit status of the command that ran. Parse outcomes that end
 * early (--help, a usage error) are thrown as CommanderError: runLab turns them into 0 and 2.
 */
export function labProgram(
  actions: LabActions,
  done: (code: number) => void,
  output: Output = {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
  },
): Command {
  const program = new Command()
    .name("npm run lab --")
    .description(
      "The lab: every host of a stack as a User-Mode Linux guest, applied as `pulumi up` would.",
    )
    // exec's command keeps its own options (`exec mgw01 ip -j route`).
    .enablePositionalOptions()
    // Set before the commands are added, so that each inherits them.
    .showHelpAfterError()
    .configureOutput({ writeOut: output.out, writeErr: output.err })
    .exitOverride()
    .addHelpText("after", ENVIRONMENT);
  const run = (p: Promise<number>) => p.then(done);

  program
    .command("up")
    .description("prerequisites, boot every node, apply every plan, wait for BGP + VIP routes")
    .option("--stack <stack>", "the stack to bring up", "lab")
    .action((o: { stack: string }) => run(actions.up({ stack: o.stack })));
  program
    .command("down")
    .description("kill every guest and switch, remove the state dir")
    .action(() => run(actions.down()));
  program
    .command("status")
    .description("nodes, BGP sessions, routes, IPVS services")
    .action(() => run(actions.status()));
  const exec = program
    .command("exec")
    .description("run a command in a guest (stdout, stderr, exit status passed through)")
    .argument("<host>", "the guest (hostname or lab node name)")
    .argument("<cmd...>", "a shell command line (one argument) or an argv (several)")
    .usage("<host> -- <cmd…>")
    .passThroughOptions()
    .action((host: string, cmd: string[]) => {
      // `exec <host> -- <cmd…>`: with pass-through options the separator arrives as an argument.
      const argv = cmd[0] === "--" ? cmd.slice(1) : cmd;
      if (argv.length === 0) exec.error("error: exec needs a command after its host");
      return run(actions.exec(host, argv));
    });
  program
    .command("stop")
    .description("power cut (uml_mconsole halt)")
    .argument("<host>")
    .action((host: string) => run(actions.stop(host)));
  program
    .command("start")
    .description("boot again (a managed host from its disk; a lab-only node is set up again)")
    .argument("<host>")
    .action((host: string) => run(actions.start(host)));
  program
    .command("reboot")
    .description("a clean reboot (systemd guests: reboot.target, same disk)")
    .argument("<host>")
    .action((host: string) => run(actions.reboot(host)));
  program
    .command("apply")
    .description(
      "re-render the stack and re-apply: serial rollout (drain → apply → health per host)",
    )
    .option("--stack <stack>", "the stack (default: the one the lab was brought up with)")
    .action((o: { stack?: string }) => run(actions.apply({ stack: o.stack })));
  program
    .command("test")
    .description("the scenarios (lab/scenarios/), results in ./lab-results.json")
    .argument("[names...]", "scenarios by name or letter (default: the quick set, ~5 min)")
    .option("--all", "every scenario (~25 min; what CI runs)")
    .option("--keep", "leave the lab up afterwards")
    .action((names: string[], o: { keep?: boolean; all?: boolean }) =>
      run(actions.test([...names, ...(o.all ? ["--all"] : []), ...(o.keep ? ["--keep"] : [])])),
    );
  return program;
}

/** Parse `argv` (the words after `npm run lab --`) and run the command; resolves to its exit status. */
export async function runLab(
  actions: LabActions,
  argv: string[],
  output?: Output,
): Promise<number> {
  let code: number | undefined;
  const program = labProgram(actions, (c) => (code = c), output);
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    // --help is no error; everything else commander refuses is a usage error (2, as before).
    return e.code === "commander.helpDisplayed" || e.code === "commander.help" ? 0 : 2;
  }
  return code ?? 0;
}
